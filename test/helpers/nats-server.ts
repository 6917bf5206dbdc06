import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

const NATS_SERVER = process.env.PARLEY_TEST_NATS_SERVER ?? '/usr/sbin/nats-server';

/** A TCP port that was free a moment ago (bind port 0 on loopback, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export type OwnNatsServer = {
  url: string;
  port: number;
  storeDir: string;
  /** The running process (undefined while stopped). */
  readonly child: ChildProcess | undefined;
  /** Send a signal (default SIGKILL) and wait for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start it again on the same port and store directory; resolves once it is ready. */
  start(): Promise<void>;
};

/**
 * A private nats-server with JetStream on a spare loopback port and a fresh store directory, for
 * tests that kill it. Registered teardown kills it and removes the directory; register this BEFORE
 * anything that needs the server in its own teardown (tap runs teardowns last-in, first-out).
 */
/**
 * The servers this test process started and that still run. A test file killed by tap's timeout
 * skips its teardowns: without this its servers outlived it (a 3-node cluster was found still
 * running an hour later, under the next runs' benches).
 */
const running = new Set<ChildProcess>();
let reaping = false;
function reapOnExit(): void {
  if (reaping) return;
  reaping = true;
  const reap = () => {
    for (const c of running) c.kill('SIGKILL');
  };
  process.once('exit', reap);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      reap();
      process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
    });
  }
}

export async function startNatsServer(t: Test, options: { binary?: string; args?: (port: number) => string[]; port?: number } = {}): Promise<OwnNatsServer> {
  const port = options.port ?? (await freePort());
  const binary = options.binary ?? NATS_SERVER;
  const storeDir = await mkdtemp(join(tmpdir(), 'parley-nats-'));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async (): Promise<void> => {
    if (child) throw new Error('nats-server is already running');
    const deadline = Date.now() + 15_000;
    for (let attempt = 1; ; attempt++) {
      const proc = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...(options.args?.(port) ?? [])], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      reapOnExit();
      running.add(proc);
      const procExited = new Promise<void>((resolve) =>
        proc.once('exit', () => {
          running.delete(proc);
          resolve();
        }),
      );
      const ready = await new Promise<boolean>((resolve) => {
        let log = '';
        const timer = setTimeout(() => resolve(false), Math.max(1, deadline - Date.now()));
        proc.stderr!.on('data', (chunk: Buffer) => {
          if (log.length < 64 * 1024) log += chunk.toString();
          if (log.includes('Server is ready')) {
            clearTimeout(timer);
            resolve(true);
          }
        });
        void procExited.then(() => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      if (ready) {
        proc.stderr!.resume(); // keep draining its log
        child = proc;
        exited = procExited.then(() => {
          if (child === proc) child = undefined;
        });
        return;
      }
      proc.kill('SIGKILL');
      await procExited;
      // The port may still be held for a moment after a kill; try again until the deadline.
      if (Date.now() > deadline) throw new Error(`nats-server did not start on port ${port} (${attempt} attempts)`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const proc = child;
    if (!proc) return;
    const done = exited;
    proc.kill(signal);
    await done;
  };

  t.teardown(async () => {
    await kill('SIGKILL');
    await rm(storeDir, { recursive: true, force: true });
  });
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get child() {
      return child;
    },
    kill,
    start,
  };
}
