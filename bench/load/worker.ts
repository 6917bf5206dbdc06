/**
 * A load generator process: owns a share of the connections and the conversations among them,
 * sends on an open-loop schedule (message i at t0 + i / rate, whatever the replies do), and
 * measures, from each message's SCHEDULED time, when its message.sent and every message.new
 * arrive. Started by bench/load/generators.ts with an IPC channel; see protocol.ts. Its parts:
 * worker-state.ts (what it knows), worker-connections.ts, worker-frames.ts (what arrives),
 * worker-setup.ts (before the clock), worker-schedule.ts (the clock, the drain, the result).
 *
 * Raw `ws` sockets and bench/lib/frames.ts, not the SDK's ParleyClient, on purpose: a generator is
 * the measuring instrument, and on a 2-core box it shares the CPU with the server it measures.
 * It drives thousands of sends a second and, with groups, receives up to 100 times as many
 * message.new. Per frame received the SDK decodes the whole frame and runs its dedupe, cursor
 * store, emitter and ack timer: ~2.5 µs of CPU against ~0.3 µs for scanFrame reading type, seq and
 * tempId from the bytes (msgpack message.new, 2026-12-07, loaded 2-core box); per send it encodes
 * the frame (~0.6 µs) where a FrameTemplate copies bytes. At 100,000 frames/s that is a quarter of
 * a core taken from the server under test. The SDK would also drop the duplicate deliveries the
 * generator counts, and add acks and pings the load plan does not ask for.
 */
import { performance } from 'node:perf_hooks';
import { signDevToken } from '../../lib/dev-token.js';
import type { ToWorker, WorkerInit } from './protocol.js';
import { closeAll, connectAll } from './worker-connections.js';
import { run } from './worker-schedule.js';
import { setUp } from './worker-setup.js';
import { GeneratorState, send } from './worker-state.js';

let g: GeneratorState | undefined;

async function onInit(m: WorkerInit): Promise<void> {
  const state = new GeneratorState(m);
  g = state;
  const signing = m.signing;
  state.conns = await Promise.all(
    m.users.map(async (user, index) => ({
      index,
      user,
      token: await signDevToken(signing, { sub: user, name: user }, 24 * 3600),
      ...(m.addresses.length ? { address: m.addresses[index % m.addresses.length]! } : {}),
      open: false,
      closing: false,
      maxSeq: 0,
      ackedSeq: 0,
      slots: new Map<number, number>(),
      created: new Set<string>(),
    })),
  );
  m.conversations.forEach((members, j) => members.forEach((k, slot) => state.conns[k]!.slots.set(j, slot)));
  await connectAll(state);
  send({ kind: 'connected', worker: m.worker, ...state.connectInfo });
}

process.on('message', (m: ToWorker) => {
  const fail = (err: unknown) => {
    send({ kind: 'fatal', worker: g?.init.worker ?? -1, message: (err as Error)?.stack ?? String(err) });
  };
  switch (m.kind) {
    case 'init':
      onInit(m).catch(fail);
      break;
    case 'setup': {
      const state = g!;
      state.phase = 'setup';
      const started = performance.now();
      setUp(state)
        .then((r) => {
          state.setupMs = performance.now() - started;
          send({ kind: 'ready', worker: state.init.worker, ms: state.setupMs, conversations: state.M, ...r });
        })
        .catch(fail);
      break;
    }
    case 'start':
      run(g!, m.startAtEpochMs).catch(fail);
      break;
    case 'close':
      (g ? closeAll(g) : Promise.resolve())
        .catch(() => undefined)
        .finally(() => process.exit(0));
      break;
  }
});
// the coordinator went away: do not linger
process.on('disconnect', () => {
  for (const c of g?.conns ?? []) c.ws?.terminate();
  process.exit(0);
});
