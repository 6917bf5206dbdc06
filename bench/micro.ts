/**
 * `npm run bench -- micro`: in-process microbenchmarks of the hot paths, no network: the codecs on
 * a typical message.new frame, decide()+evolve() per message.send, payload validation, and
 * encoding one frame once versus once per recipient.
 */
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { Packr } from 'msgpackr';
import { decide, evolve, initialState } from '../engine/decider.js';
import { SENDER_RUNS_KEPT, type ConversationState } from '../lib/conversation-state.js';
import { decodeFrame, encodeFrame, type Codec } from '../gateway/codec.js';
import { beforeOf, deliveriesFor } from '../projections/delivery/inbox-entry.js';
import { validateClientPayload, type ConversationEvent, type SendMessage } from '../schemas/index.js';
import { fmtInt, intFlag, isMain, machineLine, median, UsageError, withUsage } from './scenario-lib/common.js';

export const help = `Usage: npm run bench -- micro [options]

In-process microbenchmarks (no network, no NATS). Each case runs --rounds timed rounds of about
--round-ms each after a warm-up round, and reports the median ops/s (with min and max):

  codec/*         JSON and msgpack encode (gateway/codec.ts encodeFrame) and decode (decodeFrame)
                  of a typical message.new frame (text, sender with name and avatar, a mention)
  engine/*        decide() and evolve() of one message.send on a warm group conversation (50
                  members, 1000 remembered command ids): one sender in a burst, and 10 senders
                  taking turns with the sender runs at their cap (SENDER_RUNS_KEPT)
  validate/message.send  validateClientPayload['message.send'] on a valid payload
  fanout/*        one message.new to 50 recipients: encoded 50 times (each with its own seq, as the
                  gateway does today), encoded once (same bytes to all 50: valid only where the
                  frame is identical, e.g. one user's connections), and the payload encoded once
                  with each recipient's seq spliced in; ops/s counts fan-outs (50 frames each)

Options:
  --rounds <n>     timed rounds per case (default 7)
  --round-ms <n>   length of a round (default 300)
  --filter <text>  only the cases whose name contains this
  -h, --help       this help
`;

type Case = { name: string; fn: (i: number) => unknown; note?: string };

export async function run(argv: string[]): Promise<number> {
  return withUsage(help, async () => {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { rounds: { type: 'string' }, 'round-ms': { type: 'string' }, filter: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      process.stdout.write(help);
      return 0;
    }
    const rounds = intFlag(values, 'rounds', 7);
    const roundMs = intFlag(values, 'round-ms', 300);
    if (roundMs > 10_000) throw new UsageError('--round-ms is at most 10000');

    const cases = buildCases();
    const selected = cases.filter((c) => values.filter === undefined || c.name.includes(values.filter));
    process.stdout.write(`${machineLine()}\n${rounds} rounds of ~${roundMs} ms per case, median ops/s (min … max)\n\n`);
    const width = Math.max(...selected.map((c) => c.name.length));
    for (const c of selected) {
      const rates = measure(c.fn, rounds, roundMs);
      const med = median(rates);
      process.stdout.write(
        `${c.name.padEnd(width)}  ${fmtInt(med).padStart(12)} ops/s  (${fmtInt(Math.min(...rates))} … ${fmtInt(Math.max(...rates))})  ${(1e6 / med).toFixed(2).padStart(8)} µs/op${c.note ? `  ${c.note}` : ''}\n`,
      );
    }
    if (sink === -1) process.stdout.write('(never: keeps the results alive)\n');
    return 0;
  });
}

/** Keeps results alive so that nothing is optimised away. */
let sink = 0;
function consume(x: unknown): void {
  // charCodeAt flattens a concatenated (rope) string, as handing it to a socket would.
  if (typeof x === 'string') sink += x.length + x.charCodeAt(x.length - 1);
  else if (x instanceof Uint8Array) sink += x.byteLength;
  else if (x !== undefined && x !== null) sink += 1;
}

/** ops/s of each round; a round runs `fn` in batches until `roundMs` has passed (bounded in count too). */
function measure(fn: (i: number) => unknown, rounds: number, roundMs: number): number[] {
  let i = 0;
  const round = (ms: number): number => {
    let batch = 16;
    let ops = 0;
    const t0 = performance.now();
    let elapsed = 0;
    while (elapsed < ms && ops < 1e9) {
      for (let k = 0; k < batch; k++) consume(fn(i++));
      ops += batch;
      elapsed = performance.now() - t0;
      if (elapsed < ms / 20) batch *= 2;
    }
    return (ops / elapsed) * 1000;
  };
  round(Math.min(roundMs, 500)); // warm-up: let the JIT settle
  return Array.from({ length: rounds }, () => round(roundMs));
}

const CONV = 'g_01M80PF9EMJF4XEBBW9S51DYTN';
const MEMBERS = Array.from({ length: 50 }, (_, i) => `user${i}`);

function messageSentEvent(seq: number, sender: string, commandId: string): Extract<ConversationEvent, { type: 'MessageSent' }> {
  return {
    type: 'MessageSent',
    v: 1,
    id: `e_${commandId}`,
    conversationId: CONV,
    actor: { id: sender, name: 'Frank Sender', avatar: 'https://example.test/avatars/frank.png' },
    at: '2026-11-22T03:57:57.917Z',
    commandId,
    origin: { gatewayId: 'gw-1', connectionId: 'conn_01M80PEP7HJYQ7FVQ52P24JK72', ref: 's1' },
    data: {
      messageId: 'm_01M80PEM8XBC4NTFM4XKMTFE03',
      seq,
      sender: { id: sender, name: 'Frank Sender', avatar: 'https://example.test/avatars/frank.png' },
      type: 'text',
      content: 'Hey, are we still on for the design review at three? I moved the doc to the shared folder.',
      mentions: ['user7'],
      tempId: '5b0c6f3e-9d1e-4c55-a0c2-6f1f4f0e9b1a',
    },
  };
}

/** A group conversation as the engine holds it after a while: 50 members, `messages` messages from 10 senders taking turns. */
function warmState(messages = 1_000): ConversationState {
  const state = initialState(CONV);
  evolve(
    state,
    {
      type: 'ConversationCreated',
      v: 1,
      id: 'e_created',
      conversationId: CONV,
      actor: { id: MEMBERS[0]! },
      at: '2026-11-22T03:00:00.000Z',
      commandId: 'c_created',
      data: { kind: 'group', title: 'Design', members: MEMBERS.map((userId, i) => ({ userId, role: i === 0 ? ('owner' as const) : ('member' as const) })) },
    },
    1,
  );
  for (let s = 1; s <= messages; s++) evolve(state, messageSentEvent(s, MEMBERS[s % 10]!, `c_warm${s}`), s + 1);
  return state;
}

function buildCases(): Case[] {
  const cases: Case[] = [];

  // The frame the gateway sends for a message: built the way the projector and gateway build it.
  const event = messageSentEvent(1001, 'user3', 'c_frame');
  const state = warmState();
  const delivery = deliveriesFor(event, 5000, beforeOf(state, undefined), state)[0]!;
  const payload = delivery.entry.payload;
  const frame = { type: 'message.new', seq: 1042, payload };
  const jsonText = encodeFrame(frame, 'json') as string;
  const jsonBytes = new TextEncoder().encode(jsonText);
  const jsonBuf = jsonBytes.buffer.slice(jsonBytes.byteOffset, jsonBytes.byteOffset + jsonBytes.byteLength) as ArrayBuffer;
  const packed = encodeFrame(frame, 'msgpack') as Uint8Array;
  const packedBuf = packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength) as ArrayBuffer;
  for (const [codec, buf] of [
    ['json', jsonBuf],
    ['msgpack', packedBuf],
  ] as const) {
    const back = decodeFrame(buf, codec === 'msgpack');
    if (!back.ok || !isDeepStrictEqual(back.value, frame)) throw new Error(`micro: ${codec} does not round-trip the frame`);
  }
  cases.push({ name: 'codec/json encode', fn: () => encodeFrame(frame, 'json'), note: `${jsonBytes.byteLength} B` });
  cases.push({ name: 'codec/json decode', fn: () => decodeFrame(jsonBuf, false) });
  cases.push({ name: 'codec/msgpack encode', fn: () => encodeFrame(frame, 'msgpack'), note: `${packed.byteLength} B` });
  cases.push({ name: 'codec/msgpack decode', fn: () => decodeFrame(packedBuf, true) });

  // decide + evolve of a send on a warm conversation; every op is a new command (no duplicates).
  // Two shapes: one sender in a burst (the sender runs do not grow), and 10 senders taking turns
  // with the sender runs already at their cap (SENDER_RUNS_KEPT), which is where a busy group ends up.
  const baseCommand: SendMessage = {
    type: 'message.send',
    id: '',
    conversationId: CONV,
    actor: { id: 'user3', name: 'Frank Sender', avatar: 'https://example.test/avatars/frank.png' },
    at: Date.parse('2026-11-22T03:57:57.917Z'),
    origin: { gatewayId: 'gw-1', connectionId: 'conn_01M80PEP7HJYQ7FVQ52P24JK72', ref: 's1' },
    data: { messageId: '', tempId: '', type: 'text', content: event.data.content!, mentions: ['user7'] },
  };
  for (const [label, senders, warmMessages] of [
    ['1 sender', 1, 1_000],
    [`10 senders, sender runs at the ${SENDER_RUNS_KEPT} cap`, 10, SENDER_RUNS_KEPT + 1_000],
  ] as const) {
    const engineState = warmState(warmMessages);
    let eventSeq = engineState.version;
    cases.push({
      name: `engine/decide+evolve message.send (${label})`,
      fn: (i) => {
        const sender = MEMBERS[senders === 1 ? 3 : i % senders]!;
        const command: SendMessage = {
          ...baseCommand,
          id: `u:${sender}:t${i}`,
          actor: { ...baseCommand.actor, id: sender },
          data: { ...baseCommand.data, messageId: `m_${i}`, tempId: `t${i}` },
        };
        const decision = decide(command, engineState);
        if (decision.kind !== 'append') throw new Error(`micro: decide said ${decision.kind}`);
        for (const e of decision.events) evolve(engineState, e, ++eventSeq);
        return decision;
      },
    });
  }

  const sendPayload = { conversationId: CONV, tempId: '5b0c6f3e-9d1e-4c55-a0c2-6f1f4f0e9b1a', type: 'text', content: event.data.content, mentions: ['user7'] };
  if (!validateClientPayload['message.send'](sendPayload).ok) throw new Error('micro: the message.send payload does not validate');
  cases.push({ name: 'validate/message.send', fn: () => validateClientPayload['message.send'](sendPayload) });

  // Fan-out to 50 recipients.
  const R = 50;
  const packr = new Packr({ useRecords: false, mapsAsObjects: true });
  for (const codec of ['json', 'msgpack'] as Codec[]) {
    cases.push({
      name: `fanout/${codec} encode per recipient ×${R}`,
      fn: (i) => {
        let last: unknown;
        for (let r = 0; r < R; r++) consume((last = encodeFrame({ type: 'message.new', seq: i + r, payload }, codec)));
        return last;
      },
    });
    cases.push({
      name: `fanout/${codec} encode once, same bytes ×${R}`,
      fn: (i) => {
        const bytes = encodeFrame({ type: 'message.new', seq: i, payload }, codec);
        for (let r = 0; r < R; r++) consume(bytes);
        return bytes;
      },
    });
    // The payload once; per recipient only the envelope with its own seq around the same bytes.
    const splice = (seq: number, payloadJson: string) => `{"type":"message.new","seq":${seq},"payload":${payloadJson}}`;
    // Copies: msgpackr may hand out views of a buffer it reuses.
    const own = (x: unknown) => Uint8Array.from(packr.pack(x));
    const head = own('message.new');
    const keys = { type: own('type'), seq: own('seq'), payload: own('payload') };
    // fixmap(3) "type" "message.new" "seq" — then the seq, "payload" and the payload's bytes.
    const prefix = Uint8Array.from([0x83, ...keys.type, ...head, ...keys.seq]);
    const spliceMsgpack = (seq: number, payloadBytes: Uint8Array): Uint8Array => {
      const out = Buffer.allocUnsafe(prefix.length + 9 + keys.payload.length + payloadBytes.length);
      out.set(prefix, 0);
      let o = prefix.length;
      if (seq < 0x80) out[o++] = seq;
      else if (seq < 0x100) (out[o++] = 0xcc), (out[o++] = seq);
      else if (seq < 0x10000) (out[o++] = 0xcd), out.writeUInt16BE(seq, o), (o += 2);
      else if (seq < 0x100000000) (out[o++] = 0xce), out.writeUInt32BE(seq, o), (o += 4);
      else (out[o++] = 0xcb), out.writeDoubleBE(seq, o), (o += 8);
      out.set(keys.payload, o);
      o += keys.payload.length;
      out.set(payloadBytes, o);
      return out.subarray(0, o + payloadBytes.length);
    };
    // Check once that the spliced frame is the same frame.
    for (const seq of [7, 200, 60_000, 4_000_000_000, 2 ** 40]) {
      const check = codec === 'json' ? JSON.parse(splice(seq, JSON.stringify(payload))) : packr.unpack(spliceMsgpack(seq, packr.pack(payload)));
      if (!isDeepStrictEqual(check, { type: 'message.new', seq, payload })) throw new Error(`micro: the ${codec} splice is not the same frame (seq ${seq})`);
    }
    cases.push({
      name: `fanout/${codec} payload once + seq splice ×${R}`,
      fn: (i) => {
        let last: unknown;
        if (codec === 'json') {
          const p = JSON.stringify(payload);
          for (let r = 0; r < R; r++) consume((last = splice(i + r, p)));
        } else {
          const p = packr.pack(payload);
          for (let r = 0; r < R; r++) consume((last = spliceMsgpack(i + r, p)));
        }
        return last;
      },
    });
  }
  return cases;
}

if (isMain(import.meta.url)) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
