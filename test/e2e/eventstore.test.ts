/**
 * The EventStoreDB mirror. Against a real EventStoreDB only when EVENTSTORE_URL is set (e.g.
 * `docker compose up eventstore`, EVENTSTORE_URL=esdb://127.0.0.1:2113?tls=false); the NATS side
 * (order, acks, retries, restarts, exactly-once) always runs, against an in-memory sink.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { BACKWARDS, END, EventStoreDBClient, FORWARDS, START, StreamNotFoundError } from '@eventstore/db-client';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { settleLog } from '../helpers/event-log.js';
import { startSystem, testLog, type TestSystem } from '../helpers/system.js';
import { connectNats } from '../../lib/nats.js';
import { makeNames, type Names } from '../../lib/names.js';
import {
  eventStoreDbSink,
  eventStoreStreamOf,
  mirrorEnabled,
  mirrorEventId,
  startEventStoreMirror,
  uuidV5,
  type EventStoreMirror,
  type MirrorEvent,
  type MirrorSink,
} from '../../projections/eventstore/mirror.js';

const EVENTSTORE_URL = process.env.EVENTSTORE_URL?.trim() || undefined;

class Conflict extends Error {}

/** EventStoreDB's append semantics that the mirror relies on, in memory, with failure injection. */
class MemorySink implements MirrorSink {
  readonly streams = new Map<string, MirrorEvent[]>();
  appends = 0;
  /** Return 'fail' to throw before writing, 'lose' to write and then throw (a lost response). */
  inject: (stream: string, events: MirrorEvent[]) => 'fail' | 'lose' | undefined = () => undefined;

  async tail(stream: string) {
    await Promise.resolve();
    const s = this.streams.get(stream);
    return s?.length ? { revision: BigInt(s.length - 1), logSeq: s.at(-1)!.metadata.logSeq } : null;
  }

  async append(stream: string, events: MirrorEvent[], expected: bigint | 'no_stream') {
    await new Promise((r) => setImmediate(r));
    this.appends++;
    const what = this.inject(stream, events);
    if (what === 'fail') throw new Error(`injected failure appending to ${stream}`);
    const s = this.streams.get(stream) ?? [];
    const current = s.length === 0 ? 'no_stream' : BigInt(s.length - 1);
    if (current !== expected) throw new Conflict(`${stream} is at ${current}, expected ${expected}`);
    s.push(...events);
    this.streams.set(stream, s);
    if (what === 'lose') throw new Error(`injected lost response from ${stream}`);
    return BigInt(s.length - 1);
  }

  isConflict(err: unknown) {
    return err instanceof Conflict;
  }

  async close() {}

  get total(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.length;
    return n;
  }
}

type Stored = { seq: number; subject: string; event: { type: string } & Record<string, unknown> };

async function storedLog(jsm: JetStreamManager, names: Names): Promise<Stored[]> {
  const info = await jsm.streams.info(names.streams.events);
  const out: Stored[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.last_seq > 0; seq++) {
    const m = await jsm.direct.getMessage(names.streams.events, { seq });
    if (m) out.push({ seq: m.seq, subject: m.subject, event: m.json() });
  }
  return out;
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stored events grouped by their EventStoreDB stream, in log order. */
function expectedStreams(names: Names, log: Stored[]): Map<string, Stored[]> {
  const byStream = new Map<string, Stored[]>();
  for (const s of log) {
    const stream = eventStoreStreamOf(names, s.subject)!;
    byStream.set(stream, [...(byStream.get(stream) ?? []), s]);
  }
  return byStream;
}

/** What was mirrored is exactly the log: per stream, every event once, in order, with its id. */
function checkMirror(t: Test, names: Names, log: Stored[], actual: Map<string, { id: string; type: string; data: unknown; metadata: any }[]>) {
  const expected = expectedStreams(names, log);
  t.same([...actual.keys()].sort(), [...expected.keys()].sort(), 'one stream per conversation and per user');
  for (const [stream, stored] of expected) {
    const got = actual.get(stream) ?? [];
    t.same(
      got.map((e) => e.metadata.logSeq),
      stored.map((s) => s.seq),
      `${stream}: every event once, in log order`,
    );
    t.same(
      got.map((e) => e.id),
      stored.map((s) => mirrorEventId(stream, s.seq)),
      `${stream}: deterministic ids`,
    );
    t.same(
      got.map((e) => ({ type: e.type, data: e.data, subject: e.metadata.subject, natsStream: e.metadata.natsStream })),
      stored.map((s) => ({ type: s.event.type, data: s.event, subject: s.subject, natsStream: names.streams.events })),
      `${stream}: the stored events, with type and where they came from`,
    );
  }
}

/** Some of everything: direct messages, a group, a receipt, a block (a user event). */
async function traffic(sys: TestSystem, users: { alice: string; bob: string; carol: string }, tag: string): Promise<void> {
  const alice = await sys.connect(users.alice, { name: 'Alice' });
  const bob = await sys.connect(users.bob);
  const carol = await sys.connect(users.carol);
  alice.send({ type: 'message.send', payload: { toUserId: users.bob, tempId: `${tag}-1`, content: 'one' } });
  alice.send({ type: 'message.send', payload: { toUserId: users.bob, tempId: `${tag}-2`, content: 'two ✓' } });
  alice.send({ type: 'message.send', payload: { toUserId: users.carol, tempId: `${tag}-3`, content: 'three' } });
  await alice.collect('message.sent', 3);
  bob.send({ type: 'message.send', payload: { toUserId: users.alice, tempId: `${tag}-4`, content: 'four' } });
  const sent = await bob.next('message.sent', (f) => f.payload.tempId === `${tag}-4`);
  bob.send({ type: 'message.read', payload: { conversationId: sent.payload.message.conversationId, upToSeq: 1 } });
  alice.send({ type: 'conversation.create', payload: { kind: 'group', title: tag, members: [users.bob, users.carol] } });
  const group = (await carol.next('conversation.created', (f) => f.payload.conversation.kind === 'group')).payload.conversation.id;
  carol.send({ type: 'message.send', payload: { conversationId: group, tempId: `${tag}-5`, content: 'five' } });
  await carol.next('message.sent', (f) => f.payload.tempId === `${tag}-5`);
  alice.send({ type: 'block.add', payload: { userId: users.carol } });
  await alice.next('block.added');
  alice.send({ type: 'block.remove', payload: { userId: users.carol } });
  await alice.next('block.removed');
  for (const c of [alice, bob, carol]) c.terminate();
}

t.test('ids, names and switches', async (t) => {
  // RFC 4122 / Python uuid.uuid5(NAMESPACE_DNS, 'www.example.com').
  t.equal(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
  const id = mirrorEventId('conversation-d_abc', 42);
  t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a version 5 UUID');
  t.equal(mirrorEventId('conversation-d_abc', 42), id, 'deterministic');
  t.not(mirrorEventId('conversation-d_abc', 43), id);
  t.not(mirrorEventId('user-d_abc', 42), id);
  const names = makeNames('chat');
  t.equal(eventStoreStreamOf(names, 'chat.ev.conv.g_1'), 'conversation-g_1');
  t.equal(eventStoreStreamOf(names, 'chat.ev.user.alice'), 'user-alice');
  t.equal(eventStoreStreamOf(names, 'chat.inbox.alice'), undefined);
  t.equal(mirrorEnabled({}), false);
  t.equal(mirrorEnabled({ EVENTSTORE_URL: ' ' }), false);
  t.equal(mirrorEnabled({ EVENTSTORE_URL: 'esdb://127.0.0.1:2113?tls=false' }), true);
  t.equal(names.consumers.eventStoreMirror, 'eventstore-mirror');
});

t.test('the mirror copies every event once, in order, through failures and restarts (in-memory sink)', async (t) => {
  const sys = await startSystem(t);
  const names = makeNames(sys.config.prefix);
  const nc = await connectNats(sys.config, 'eventstore-test', testLog);
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const sink = new MemorySink();
  const mirrors: EventStoreMirror[] = [];
  t.teardown(async () => {
    for (const m of mirrors) await m.stop();
  });
  const start = async () => {
    const m = await startEventStoreMirror({ nc, config: sys.config, names, log: testLog, sink, ackWaitMs: 2_000, maxRetryDelayMs: 200 });
    mirrors.push(m);
    return m;
  };

  await t.rejects(startEventStoreMirror({ nc, config: sys.config, names, log: testLog, env: {} }), /EVENTSTORE_URL is not set/);

  const users = { alice: 'alice', bob: 'bob', carol: 'carol' };
  await traffic(sys, users, 'a');
  await settleLog(jsm, names);
  const first = await storedLog(jsm, names);
  t.ok(first.some((s) => s.event.type === 'UserBlocked'), 'the log has user events');

  // 1. A fresh mirror catches up with the log.
  const m1 = await start();
  await waitFor('the first catch-up', () => sink.total === first.length);
  checkMirror(t, names, first, sink.streams);
  await waitFor('acks', () => m1.stats().inFlight === 0);
  t.match(m1.stats(), { mirrored: first.length, skipped: 0, failedAppends: 0, lastLogSeq: first.at(-1)!.seq, inFlight: 0 });
  await m1.stop();

  // 2. Live, with appends failing: some outright, one after writing (its response "lost").
  const dm = eventStoreStreamOf(names, names.subjects.conversationEvents(first.find((s) => s.event.type === 'MessageSent')!.event.conversationId as string))!;
  let failures = 0;
  let lost = 0;
  sink.inject = (stream) => {
    if (stream !== dm) return undefined;
    if (failures < 3) return (failures++, 'fail');
    if (lost < 1) return (lost++, 'lose');
    return undefined;
  };
  const m2 = await start();
  await traffic(sys, users, 'b');
  await settleLog(jsm, names);
  const second = await storedLog(jsm, names);
  await waitFor('the live mirror', () => sink.total === second.length);
  checkMirror(t, names, second, sink.streams);
  t.equal(failures, 3, 'appends failed');
  t.equal(lost, 1, 'one append landed but was reported failed');
  await waitFor('acks', () => m2.stats().inFlight === 0);
  t.ok(m2.stats().failedAppends >= 4, 'each failure was counted and retried');
  const { mirrored, skipped } = m2.stats();
  t.equal(mirrored + skipped, second.length - first.length, 'only the new events were handled');
  t.ok(skipped > 0, 'the events whose append landed unconfirmed were found in the stream, not written again');
  await m2.stop();

  // 3. The durable consumer is gone (deleted, or a new NATS consumer): everything is delivered
  //    again and nothing is written twice.
  await jsm.consumers.delete(names.streams.events, names.consumers.eventStoreMirror);
  sink.inject = () => undefined;
  const appendsBefore = sink.appends;
  const m3 = await start();
  await waitFor('the redelivery', () => m3.stats().skipped === second.length && m3.stats().inFlight === 0);
  checkMirror(t, names, second, sink.streams);
  t.equal(m3.stats().mirrored, 0, 'nothing written again');
  t.equal(sink.appends, appendsBefore, 'not even attempted');

  // 4. Stopping while an append keeps failing returns promptly; the next run finishes the job.
  sink.inject = (stream) => (stream === dm ? 'fail' : undefined);
  await traffic(sys, users, 'c');
  await settleLog(jsm, names);
  const third = await storedLog(jsm, names);
  await waitFor('the other streams', () => sink.total === third.length - third.filter((s) => eventStoreStreamOf(names, s.subject) === dm && s.seq > second.at(-1)!.seq).length);
  const stopStarted = Date.now();
  await m3.stop();
  t.ok(Date.now() - stopStarted < 2_000, 'stop does not wait for a failing append');
  sink.inject = () => undefined;
  const m4 = await start();
  await waitFor('the last catch-up', () => sink.total === third.length, 30_000);
  checkMirror(t, names, third, sink.streams);
  await waitFor('acks', () => m4.stats().inFlight === 0);
  await m4.stop();
});

t.test('mirror to a real EventStoreDB', { skip: EVENTSTORE_URL ? false : 'skipped: no EVENTSTORE_URL' }, async (t) => {
  const sys = await startSystem(t);
  const names = makeNames(sys.config.prefix);
  const nc = await connectNats(sys.config, 'eventstore-test', testLog);
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const client = EventStoreDBClient.connectionString(EVENTSTORE_URL!);
  t.teardown(() => client.dispose());

  // Unique users: their direct conversations' ids (and so stream names) are new on every run.
  const tag = randomBytes(4).toString('hex');
  const users = { alice: `alice_${tag}`, bob: `bob_${tag}`, carol: `carol_${tag}` };
  await traffic(sys, users, 'x');
  await settleLog(jsm, names);
  const log = await storedLog(jsm, names);
  const streams = [...expectedStreams(names, log).keys()];

  const readBack = async () => {
    const out = new Map<string, { id: string; type: string; data: unknown; metadata: any }[]>();
    for (const stream of streams) {
      const events: { id: string; type: string; data: unknown; metadata: any }[] = [];
      try {
        for await (const r of client.readStream(stream, { direction: FORWARDS, fromRevision: START })) {
          if (r.event) events.push({ id: r.event.id, type: r.event.type, data: r.event.data, metadata: r.event.metadata });
        }
      } catch (err) {
        if (!(err instanceof StreamNotFoundError)) throw err;
      }
      if (events.length) out.set(stream, events);
    }
    return out;
  };
  const count = async () => [...(await readBack()).values()].reduce((n, s) => n + s.length, 0);

  const m1 = await startEventStoreMirror({ nc, config: sys.config, names, log: testLog, env: { EVENTSTORE_URL }, ackWaitMs: 5_000 });
  t.teardown(() => m1.stop());
  await waitFor('the mirror', async () => (await count()) === log.length, 60_000);
  checkMirror(t, names, log, await readBack());
  await m1.stop();

  await jsm.consumers.delete(names.streams.events, names.consumers.eventStoreMirror);
  const m2 = await startEventStoreMirror({ nc, config: sys.config, names, log: testLog, sink: eventStoreDbSink(EVENTSTORE_URL!), ackWaitMs: 5_000 });
  t.teardown(() => m2.stop());
  await waitFor('the redelivery', () => m2.stats().skipped === log.length, 60_000);
  t.equal(m2.stats().mirrored, 0, 'nothing written twice');
  checkMirror(t, names, log, await readBack());
  for (const stream of streams.slice(0, 1)) {
    for await (const r of client.readStream(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 1 })) {
      t.equal(r.event?.id, mirrorEventId(stream, (r.event?.metadata as { logSeq: number }).logSeq), 'EventStoreDB keeps the deterministic id');
    }
  }
  await m2.stop();
});
