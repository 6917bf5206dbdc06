/**
 * The command handler's load → decide → append → retry loop on the in-memory EventStore: two
 * engines racing on one conversation, redelivered commands, and giving up. The same loop runs on
 * JetStream in the e2e tests; here every interleaving is deterministic and every append is counted.
 */
import t from 'tap';
import { MAX_ATTEMPTS, CommandHandler } from '../../engine/command-handler.js';
import { AggregateStore, conversations, users } from '../../lib/aggregate-store.js';
import type { AppendOptions, AppendOutcome, EventStore, StoredEvent } from '../../lib/event-store.js';
import { decodeJson } from '../../lib/json.js';
import { createLogger } from '../../lib/log.js';
import { MemoryEventStore } from '../../lib/memory-event-store.js';
import { makeNames } from '../../lib/names.js';
import type { CommandOutcome, ConversationEvent } from '../../schemas/index.js';
import { createGroup, GROUP, send } from '../helpers/decider-spec.js';

const names = makeNames('handler');
const log = createLogger({ level: 'silent' });

/** An EventStore that passes everything to `inner` and counts what each append did. */
class CountingStore implements EventStore {
  readonly appends: AppendOutcome['kind'][] = [];
  readonly #inner: EventStore;

  constructor(inner: EventStore) {
    this.#inner = inner;
  }

  count(kind: AppendOutcome['kind']): number {
    return this.appends.filter((k) => k === kind).length;
  }

  readAfter(stream: string, afterSeq: number, upToSeq?: number): AsyncIterable<StoredEvent> {
    return this.#inner.readAfter(stream, afterSeq, upToSeq);
  }

  bySeq(seq: number): Promise<StoredEvent | null> {
    return this.#inner.bySeq(seq);
  }

  async append(stream: string, data: Uint8Array, options: AppendOptions): Promise<AppendOutcome> {
    const outcome = await this.#inner.append(stream, data, options);
    this.appends.push(outcome.kind);
    return outcome;
  }
}

/** One engine's handler on a shared log: caches of its own, its appends counted, its replies kept. */
function engineOn(log_: EventStore) {
  const events = new CountingStore(log_);
  const conversationStore = new AggregateStore(events, conversations(names), 100);
  const userStore = new AggregateStore(events, users(names), 100);
  const replies: CommandOutcome[] = [];
  const handler = new CommandHandler({ conversations: conversationStore, users: userStore, events, reply: (_gatewayId, outcome) => replies.push(outcome), log });
  return { handler, events, conversations: conversationStore, replies };
}

async function conversationLog(store: EventStore): Promise<{ seq: number; event: ConversationEvent }[]> {
  const out = [];
  for await (const e of store.readAfter(names.subjects.conversationEvents(GROUP), 0)) out.push({ seq: e.seq, event: decodeJson<ConversationEvent>(e.data) });
  return out;
}

t.test('two engines with stale caches send to one conversation at once: every message lands once, in order', async (t) => {
  const store = new MemoryEventStore();
  const [a, b] = [engineOn(store), engineOn(store)];
  t.equal(await a.handler.handle(createGroup('alice', { members: ['alice', 'bob'] })), 'accepted');
  await b.conversations.get(GROUP); // b caches the conversation at its creation…
  t.equal(await a.handler.handle(send('alice', GROUP, { tempId: 'a0' })), 'accepted'); // …and is now behind

  const perEngine = 20;
  const sendAll = async (engine: typeof a, by: string) => {
    const outcomes = [];
    // One engine decides one conversation's commands in order (its KeyedQueue lane); the two engines race.
    for (let i = 1; i <= perEngine; i++) outcomes.push(await engine.handler.handle(send(by, GROUP, { tempId: `${by[0]}${i}` })));
    return outcomes;
  };
  const [fromA, fromB] = await Promise.all([sendAll(a, 'alice'), sendAll(b, 'bob')]);
  t.strictSame([...fromA, ...fromB], Array(2 * perEngine).fill('accepted'), 'every command accepted');

  const logged = await conversationLog(store);
  const seqs = logged.map((e) => e.seq);
  t.strictSame(seqs, [...seqs].sort((x, y) => x - y), 'stream sequences increase');
  t.equal(new Set(seqs).size, seqs.length, 'and are distinct');
  const sent = logged.flatMap(({ event }) => (event.type === 'MessageSent' ? [event.data] : []));
  t.strictSame(sent.map((m) => m.seq), Array.from({ length: 2 * perEngine + 1 }, (_, i) => i + 1), 'message seqs 1..41, none lost or repeated');
  const expected = ['a0', ...Array.from({ length: perEngine }, (_, i) => [`a${i + 1}`, `b${i + 1}`]).flat()];
  t.strictSame(sent.map((m) => m.tempId).sort(), expected.sort(), 'each message exactly once');
  for (const by of ['alice', 'bob']) {
    const own = sent.filter((m) => m.sender.id === by).map((m) => Number(m.tempId.slice(1)));
    t.strictSame(own, [...own].sort((x, y) => x - y), `${by}'s messages keep the order they were sent in`);
  }

  const conflicts = a.events.count('conflict') + b.events.count('conflict');
  t.ok(b.events.appends[0] === 'conflict', "b's first append, from its stale cache, lost the race");
  t.ok(conflicts > 0, `the conflict path was taken (${conflicts} conflicts)`);
  t.equal(a.events.count('appended') + b.events.count('appended'), 2 * perEngine + 2, 'one successful append per event');
  t.equal(store.lastSeq, 2 * perEngine + 2, 'and nothing else in the log');
  const fresh = await new AggregateStore(store, conversations(names), 10).get(GROUP);
  t.equal(fresh.lastMessageSeq, 2 * perEngine + 1, 'the log folds to the same conversation');
});

t.test('a command handled again (same id) is a duplicate and appends nothing', async (t) => {
  const store = new MemoryEventStore();
  const a = engineOn(store);
  await a.handler.handle(createGroup('alice', { members: ['alice', 'bob'] }));
  const message = send('alice', GROUP, { tempId: 'once' });
  const stale = engineOn(store);
  await stale.conversations.get(GROUP); // cached before the message: its decider cannot know the command
  t.equal(await a.handler.handle(message), 'accepted');
  const lastSeq = store.lastSeq;

  t.equal(await a.handler.handle(message), 'duplicate', 'the deciding engine remembers the command id');
  const [answer] = a.replies.filter((r) => r.outcome === 'duplicate');
  t.match(answer, { outcome: 'duplicate', commandId: message.id, tempId: 'once', result: { id: message.data.messageId, seq: 1 } }, 'a client retry gets the original result');

  t.equal(await stale.handler.handle(message, true), 'duplicate', 'an engine whose cache is behind');
  t.strictSame(stale.events.appends, ['duplicate'], 'tried once; the idempotency key caught it, then the caught-up state did');
  t.strictSame(stale.replies, [], 'a redelivery is not answered: its sender hears through the inbox');
  t.equal(store.lastSeq, lastSeq, 'no second event');
});

t.test(`an append that conflicts ${MAX_ATTEMPTS} times in a row is given up and the cached state forgotten`, async (t) => {
  const store = new MemoryEventStore();
  await engineOn(store).handler.handle(createGroup('alice', { members: ['alice', 'bob'] }));
  const alwaysBehind: EventStore = {
    readAfter: (stream, afterSeq, upToSeq) => store.readAfter(stream, afterSeq, upToSeq),
    bySeq: (seq) => store.bySeq(seq),
    append: async () => ({ kind: 'conflict' }),
  };
  const engine = engineOn(alwaysBehind);
  await engine.conversations.get(GROUP);
  t.equal(engine.conversations.cached, 1);
  await t.rejects(engine.handler.handle(send('alice', GROUP)), /gave up .* after 20 concurrent-write conflicts/);
  t.equal(engine.events.count('conflict'), MAX_ATTEMPTS, 'one append per attempt');
  t.equal(engine.conversations.cached, 0, 'the state is reloaded by the redelivery');
});

t.test('an append that fails outright is thrown and the cached state forgotten', async (t) => {
  const store = new MemoryEventStore();
  await engineOn(store).handler.handle(createGroup('alice', { members: ['alice', 'bob'] }));
  const broken: EventStore = {
    readAfter: (stream, afterSeq, upToSeq) => store.readAfter(stream, afterSeq, upToSeq),
    bySeq: (seq) => store.bySeq(seq),
    append: () => Promise.reject(new Error('no acknowledgement from the stream in time')),
  };
  const engine = engineOn(broken);
  await t.rejects(engine.handler.handle(send('alice', GROUP)), /in time/);
  t.equal(engine.conversations.cached, 0);
});
