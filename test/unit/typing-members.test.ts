import t from 'tap';
import { ConversationMembers } from '../../gateway/conversation-members.js';
import type { DirectReader } from '../../gateway/direct-get.js';
import type { Connection } from '../../gateway/connection.js';
import { TypingRelay, type TypingAudience } from '../../gateway/typing-relay.js';
import { Faults } from '../../lib/faults.js';
import { encodeJson } from '../../lib/json.js';
import { createLogger } from '../../lib/log.js';
import { MemoryEventStore } from '../../lib/memory-event-store.js';
import { makeNames } from '../../lib/names.js';
import { DIRECT_AB, GROUP, directCreated, groupCreated, memberLeft, membersAdded, messageSent, userBlocked, userUnblocked } from '../helpers/decider-spec.js';

const names = makeNames('unit');
const log = createLogger({ level: 'silent' });

/** The event log in memory, read the way the gateway's Direct Gets read it; `reads` counts the requests. */
function log_() {
  const store = new MemoryEventStore();
  const last = new Map<string, number>();
  let reads = 0;
  const reader = {
    async nextAfter(subject: string, afterSeq: number) {
      reads++;
      for await (const e of store.readAfter(subject, afterSeq)) return e;
      return null;
    },
    async last() {
      reads++;
      return null;
    },
    bySeq: (seq: number) => store.bySeq(seq),
  } as unknown as DirectReader;
  const append = async (subject: string, event: object) => {
    const outcome = await store.append(subject, encodeJson(event), { expectedVersion: last.get(subject) ?? 0, idempotencyKey: `${Math.random()}` });
    if (outcome.kind === 'appended') last.set(subject, outcome.seq);
  };
  return {
    reader,
    reads: () => reads,
    conversation: (id: string, event: object) => append(names.subjects.conversationEvents(id), event),
    user: (id: string, event: object) => append(names.subjects.userEvents(id), event),
  };
}

t.test('ConversationMembers: who hears a member type, from the log', async (t) => {
  t.test('the other members; undefined for a non-member and for an unknown id alike', async (t) => {
    const events = log_();
    await events.conversation(GROUP, groupCreated('alice', { members: ['alice', 'bob', 'carol'] }));
    const members = new ConversationMembers({ events: events.reader, kv: events.reader, names });
    t.strictSame((await members.recipients(GROUP, 'alice'))?.sort(), ['bob', 'carol']);
    t.strictSame((await members.recipients(GROUP, 'bob'))?.sort(), ['alice', 'carol']);
    t.equal(await members.recipients(GROUP, 'dave'), undefined);
    t.equal(await members.recipients('g_nothing', 'alice'), undefined);
    t.equal(members.cached.conversations, 1, 'an id that names nothing is not kept');
  });

  t.test('cached for refreshMs; a join is seen at once, a leave after the refresh', async (t) => {
    const events = log_();
    let now = 1_000_000;
    await events.conversation(GROUP, groupCreated('alice', { members: ['alice', 'bob'] }));
    const members = new ConversationMembers({ events: events.reader, kv: events.reader, names, now: () => now });
    await members.recipients(GROUP, 'alice');
    const reads = events.reads();
    for (let i = 0; i < 50; i++) await members.recipients(GROUP, 'alice');
    t.equal(events.reads(), reads, 'fifty frames within the second: no read');

    await events.conversation(GROUP, membersAdded('carol'));
    t.strictSame((await members.recipients(GROUP, 'carol'))?.sort(), ['alice', 'bob'], 'a sender not found is looked up again: the join is seen');
    await events.conversation(GROUP, memberLeft('bob'));
    t.strictSame((await members.recipients(GROUP, 'alice'))?.sort(), ['bob', 'carol'], 'within the second the leave is not seen yet');
    now += 1_000;
    t.strictSame((await members.recipients(GROUP, 'alice'))?.sort(), ['carol'], 'after it, it is');
    t.equal(await members.recipients(GROUP, 'bob'), undefined, 'and bob is refused');
  });

  t.test('concurrent lookups share one catch-up', async (t) => {
    const events = log_();
    await events.conversation(GROUP, groupCreated('alice', { members: ['alice', 'bob'] }));
    for (let i = 1; i <= 20; i++) await events.conversation(GROUP, messageSent('alice', GROUP, i, { tempId: `t${i}` }));
    const members = new ConversationMembers({ events: events.reader, kv: events.reader, names });
    const before = events.reads();
    const answers = await Promise.all(Array.from({ length: 10 }, () => members.recipients(GROUP, 'alice')));
    t.ok(answers.every((a) => a?.[0] === 'bob'));
    t.equal(events.reads() - before, 23, "one snapshot read and one fold of 21 events and its end, not ten");
  });

  t.test('a direct conversation: nobody while either user blocks the other', async (t) => {
    const events = log_();
    let now = 1_000_000;
    await events.conversation(DIRECT_AB, directCreated('alice', 'bob'));
    const members = new ConversationMembers({ events: events.reader, kv: events.reader, names, now: () => now });
    t.strictSame(await members.recipients(DIRECT_AB, 'alice'), ['bob']);
    await events.user('bob', userBlocked('bob', 'alice'));
    now += 1_000;
    t.strictSame(await members.recipients(DIRECT_AB, 'alice'), [], 'bob blocks alice: she types to nobody');
    t.strictSame(await members.recipients(DIRECT_AB, 'bob'), [], 'and he to nobody');
    await events.user('bob', userUnblocked('bob', 'alice'));
    now += 1_000;
    t.strictSame(await members.recipients(DIRECT_AB, 'bob'), ['alice'], 'unblocked');
  });
});

/** A connection as the relay uses it: an id, a user, and what it was sent. */
function fakeConnection(id: string, userId: string) {
  const errors: { code: string; ref?: string }[] = [];
  const conn = {
    id,
    userId,
    closed: false,
    sendError: (code: string, _message: string, refs: { ref?: string } = {}) => void errors.push({ code, ...refs }),
  } as unknown as Connection;
  return { conn, errors };
}

function relayWith(audience: TypingAudience, config = { timeoutMs: 100, maxConversations: 2, fanoutPerSecond: 1_000 }, failPublishes = 0) {
  const published: { subject: string; frame: { type: string; payload: { conversationId: string; userId: string } } }[] = [];
  let failures = failPublishes;
  const nc = {
    publish: (subject: string, data: Uint8Array) => {
      if (failures-- > 0) throw new Error('publish failed');
      published.push({ subject, frame: JSON.parse(Buffer.from(data).toString()) });
    },
  };
  const rejected: string[] = [];
  const faults = new Faults(log);
  const relay = new TypingRelay({
    nc: nc as never,
    names,
    config,
    audience,
    reject: (_conn, code) => void rejected.push(code),
    log,
    faults,
  });
  return { relay, published, rejected, faults };
}

/** Until `done` holds (the relay's sweep runs on its own timer), for at most 5 s. */
async function until(done: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 5_000; !done() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 5));
}

t.test('TypingRelay: one connection’s frames in order, whatever the lookups take', async (t) => {
  t.test('a stop right after a slow start is relayed after it, not before', async (t) => {
    let slow = true;
    const audience: TypingAudience = {
      recipients: async () => {
        if (slow) await new Promise((r) => setTimeout(r, 30));
        slow = false;
        return ['bob', 'carol'];
      },
    };
    const { relay, published } = relayWith(audience);
    const { conn } = fakeConnection('c1', 'alice');
    relay.start(conn, GROUP, {});
    relay.stop(conn, GROUP, {});
    await relay.settled();
    t.strictSame(
      published.map((p) => `${p.frame.type} ${p.subject}`),
      ['typing.start unit.eph.bob', 'typing.start unit.eph.carol', 'typing.stop unit.eph.bob', 'typing.stop unit.eph.carol'],
    );
    t.strictSame(published[0]!.frame.payload, { conversationId: GROUP, userId: 'alice' });
    await relay.close();
  });

  t.test('a stranger gets conversation_not_found with the ref; nothing is published', async (t) => {
    const { relay, published } = relayWith({ recipients: async () => undefined });
    const { conn, errors } = fakeConnection('c1', 'dave');
    relay.start(conn, GROUP, { ref: 'r1' });
    relay.stop(conn, GROUP, { ref: 'r2' });
    await relay.settled();
    t.strictSame(errors, [
      { code: 'conversation_not_found', ref: 'r1' },
      { code: 'conversation_not_found', ref: 'r2' },
    ]);
    t.strictSame(published, []);
    await relay.close();
  });

  t.test('expiry, close and the gateway stop each relay one stop', async (t) => {
    const { relay, published } = relayWith({ recipients: async () => ['bob'] });
    const a = fakeConnection('c1', 'alice');
    const b = fakeConnection('c2', 'alice');
    relay.start(a.conn, 'g1', {});
    await relay.settled();
    await until(() => published.length === 2); // the 100 ms timeout and a sweep
    t.strictSame(published.map((p) => p.frame.type), ['typing.start', 'typing.stop'], 'ended by the server');

    relay.start(a.conn, 'g1', {});
    relay.start(b.conn, 'g2', {});
    await relay.settled();
    relay.closed(a.conn);
    await relay.settled();
    t.strictSame(published.slice(2).map((p) => `${p.frame.type} ${p.frame.payload.conversationId}`), ['typing.start g1', 'typing.start g2', 'typing.stop g1'], 'the closed connection alone');
    await relay.close();
    t.strictSame(published.slice(5).map((p) => `${p.frame.type} ${p.frame.payload.conversationId}`), ['typing.stop g2'], 'the rest at stop');
  });

  t.test('the cap and the fan-out budget answer rate_limited', async (t) => {
    const { relay, rejected, published } = relayWith({ recipients: async () => ['bob'] }, { timeoutMs: 10_000, maxConversations: 2, fanoutPerSecond: 1 });
    const { conn } = fakeConnection('c1', 'alice');
    for (const g of ['g1', 'g2', 'g3']) relay.start(conn, g, {});
    await relay.settled();
    t.strictSame(rejected, ['rate_limited'], 'a third conversation at once');
    t.equal(published.length, 2);
    await relay.close();
  });

  t.test('a task that throws is a contained fault, and the next frame is still handled', async (t) => {
    const { relay, faults, published } = relayWith({ recipients: async () => ['bob'] }, undefined, 1);
    const { conn } = fakeConnection('c1', 'alice');
    relay.start(conn, 'g1', {});
    await relay.settled();
    t.equal(faults.count, 1, 'counted in /health faults');
    relay.start(conn, 'g2', {});
    await relay.settled();
    t.strictSame(published.map((p) => p.frame.payload.conversationId), ['g2'], 'the next start goes out');
    await relay.close();
  });
});
