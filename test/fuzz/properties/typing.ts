import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import type { TestClient } from '../../helpers/client.js';
import { payloadOf } from '../arbitraries/frames.js';
import { FuzzSocket } from '../e2e/fuzz-socket.js';
import { assertErrorShape, type FuzzTarget } from '../e2e/target.js';
import type { FuzzProperty } from '../property.js';

/** Stands for the id of a real group the sender is not in (known only once the target runs). */
const REAL_GROUP = '\u0000real-group';
const packr = new Packr({ useRecords: false });

/** typing.start / typing.stop with payloads from the schema, mutated or anything; or naming a real group. */
const typingFrame = fc.constantFrom('typing.start' as const, 'typing.stop' as const).chain((type) =>
  fc.record({ type: fc.constant(type), payload: fc.oneof({ weight: 3, arbitrary: payloadOf(type) }, { weight: 1, arbitrary: fc.constant(REAL_GROUP) }) }),
);

/** What a stranger's typing frame may be answered with (a full bucket: no rate_limited with these bursts). */
const ANSWERS = new Set(['conversation_not_found', 'validation_error']);

/**
 * Typing frames from a user who is a member of nothing, on a socket of its own: every frame is
 * answered with its ref, `conversation_not_found` (a real group or none, the same words) or
 * `validation_error`, nothing else answers it, and the members of the real group hear nothing.
 */
export function typingProperties(target: FuzzTarget): FuzzProperty[] {
  let group: Promise<{ id: string; members: TestClient[] }> | undefined;
  let senders = 0;
  const setUp = async () => {
    const owner = await target.system.connect('fuzz-typing-owner');
    const member = await target.system.connect('fuzz-typing-member');
    owner.send({ type: 'conversation.create', ref: 'g', payload: { kind: 'group', title: 'typing', members: ['fuzz-typing-member'] } });
    const id = (await owner.next('conversation.created', (f) => f.ref === 'g')).payload.conversation.id as string;
    await member.next('conversation.created');
    return { id, members: [owner, member] };
  };
  return [
    {
      name: "typing: a stranger's typing.start / typing.stop is answered conversation_not_found or validation_error, and no member hears it",
      testRuns: 60,
      property: fc.asyncProperty(fc.array(typingFrame, { minLength: 1, maxLength: 8 }), async (frames) => {
        const { id, members } = await (group ??= setUp());
        const faults = target.faults();
        const socket = await FuzzSocket.served(target.wsUrl, await target.system.token(`fuzz-typist-${++senders}`));
        if (!socket) return;
        try {
          const from = socket.received.length;
          const refs: string[] = [];
          for (const [i, frame] of frames.entries()) {
            const payload = frame.payload === REAL_GROUP ? { conversationId: id } : frame.payload;
            let bytes: Uint8Array;
            try {
              bytes = packr.pack({ type: frame.type, ref: `t-${i}`, payload });
            } catch {
              continue; // not encodable at all: nothing to send
            }
            if (bytes.length > target.maxPayloadBytes) continue; // the size limit has its own properties
            socket.send({ binary: true, bytes });
            refs.push(`t-${i}`);
          }
          for (const ref of refs) {
            assert.ok(await socket.waitFor((f) => (f as { ref?: unknown }).ref === ref, from, 10_000), `frame ${ref} is answered`);
          }
          for (const r of socket.received.slice(from)) {
            const frame = r.value as { type?: string; ref?: string; error?: unknown };
            assert.ok(!frame.type?.startsWith('typing.'), 'the stranger hears no typing either');
            if (frame.ref === undefined) continue; // unread.summary, on connect
            assert.equal(frame.type, 'error', `only errors answer a stranger's typing (got ${JSON.stringify(frame)})`);
            const code = assertErrorShape(frame.error, `answer to ${frame.ref}`);
            assert.ok(ANSWERS.has(code), `${frame.ref}: ${code}`);
            if (code === 'conversation_not_found') assert.match((frame.error as { message: string }).message, /^conversation .* not found$/);
          }
          for (const m of members) assert.equal(m.frames.filter((f) => f.type.startsWith('typing.')).length, 0, 'no member heard a stranger type');
          assert.equal(target.faults(), faults, 'no unexpected error');
        } finally {
          socket.terminate();
        }
      }),
    },
  ];
}
