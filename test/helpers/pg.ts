import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Test } from 'tap';
import { defaultConfig, type Config } from '../../lib/config.js';
import { directConversationId } from '../../lib/ids.js';
import { encodeJson } from '../../lib/json.js';
import { JetStreamPublisher } from '../../lib/js-publisher.js';
import type { Names } from '../../lib/names.js';
import { ident, inTransaction, type Database } from '../../lib/pg.js';
import { apply } from '../../projections/postgres/apply.js';
import { projectBatch } from '../../projections/postgres/apply-batch.js';
import { migrate } from '../../projections/postgres/migrate.js';
import { connectNats, deleteStreams, ensureStreams, jetstreamManager, type NatsConnection } from '../../lib/nats.js';
import { makeNames } from '../../lib/names.js';
import { openDatabase } from '../../lib/pg.js';
import { readCheckpoint } from '../../projections/postgres/checkpoint.js';
import type { LoggedEvent, ProjectedEvent } from '../../projections/postgres/statement.js';
import { rebuildReadModels } from '../../projections/postgres/rebuild.js';
import { testConfig, testLog } from './system.js';
import type { MessageType } from '../../schemas/index.js';

/** The real Postgres of the tests (trust auth); PARLEY_TEST_DATABASE_URL overrides it. */
export const TEST_DATABASE_URL = process.env.PARLEY_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A schema name of its own for one test. */
export function testSchema(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}

/** The postgres section of a test configuration: real Postgres, a schema of its own. */
export function testPostgres(schema = testSchema()): Config['postgres'] {
  return { ...defaultConfig().postgres, url: TEST_DATABASE_URL, schema };
}

/** Drop a schema and what a rebuild of it leaves (`_rebuild`, `_old`). Never throws. */
export async function dropSchemas(schema: string, url = TEST_DATABASE_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    for (const s of [schema, `${schema}_rebuild`, `${schema}_old`]) await client.query(`DROP SCHEMA IF EXISTS ${ident(s)} CASCADE`);
  } catch {
    // Postgres not there: nothing was created either.
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A Database on the test Postgres with a schema of its own, migrated; dropped at teardown. */
export async function testDatabase(t: Test, schema = testSchema()): Promise<Database> {
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4 });
  pool.on('error', () => undefined);
  const db: Database = { pool, schema, embedded: false, describe: TEST_DATABASE_URL, close: () => pool.end() };
  t.teardown(async () => {
    await pool.end().catch(() => undefined);
    await dropSchemas(schema);
  });
  await migrate(pool, schema);
  return db;
}

/** Fold events with `apply` one by one (the reference form), no checkpoint, one transaction. */
/**
 * The events, at log seq 1, 2, 3 …, projected as the projector does (batched) into a fresh schema,
 * checked against the reference form (`apply`, event by event) in another: that schema, to query.
 */
export async function projectedBothWays(t: Test, events: ProjectedEvent[]): Promise<Database> {
  const db = await testDatabase(t);
  const reference = await testDatabase(t);
  const entries = events.map((event, i) => ({ seq: i + 1, event }));
  await projectBatch(db.pool, db.schema, entries);
  await applyEach(reference.pool, reference.schema, entries as LoggedEvent[]);
  const [a, b] = [await checksums(db.pool, db.schema), await checksums(reference.pool, reference.schema)];
  delete a.checkpoint;
  delete b.checkpoint;
  t.strictSame(a, b, 'batched statements = event-by-event statements');
  return db;
}

export async function applyEach(pool: pg.Pool, schema: string, events: LoggedEvent[]): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query(`SET LOCAL search_path TO ${ident(schema)}`);
    for (const e of events) for (const st of apply(e)) await client.query(st.text, st.values);
  });
}

/** md5 of every read-model table's rows in a fixed order (and the checkpoint), for equality checks. */
export async function checksums(pool: pg.Pool, schema: string): Promise<Record<string, string>> {
  const s = ident(schema);
  const tables: [string, string, string][] = [
    ['conversations', `${s}.conversations`, 'id'],
    ['conversation_members', `${s}.conversation_members`, 'conversation_id, user_id'],
    ['messages', `${s}.messages`, 'conversation_id, seq, id'],
    ['blocks', `${s}.blocks`, 'blocker_id, blocked_id'],
    ['reactions', `${s}.reactions`, 'message_id, user_id, emoji'],
  ];
  return inTransaction(pool, async (client) => {
    await client.query("SET LOCAL TimeZone TO 'UTC'");
    const out: Record<string, string> = {};
    for (const [name, table, order] of tables) {
      const r = await client.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY ${order}), '')) AS md5 FROM ${table} t`);
      out[name] = `${r.rows[0].n}:${r.rows[0].md5}`;
    }
    const cp = await client.query(`SELECT log_seq, source FROM ${s}.projector_checkpoints WHERE name = 'postgres'`);
    out.checkpoint = cp.rows[0] ? `${cp.rows[0].log_seq}` : 'none';
    return out;
  });
}

/* ------------------------------------------------------------------ a valid event log */

/** One generated event, to be appended on its conversation's or user's subject. */
export type GeneratedEvent = { event: ProjectedEvent };

/** A small deterministic PRNG (mulberry32), so a failing log can be generated again. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** reactions: `user emoji` pairs on the message, as the decider keeps them. */
type Sent = { messageId: string; seq: number; sender: string; deleted: boolean; reactions: Set<string> };
type ConvModel = {
  id: string;
  kind: 'direct' | 'group';
  members: Set<string>;
  last: number;
  delivered: Map<string, number>;
  read: Map<string, number>;
  sent: Sent[];
  /** Groups: who runs it (the owner until they leave, the admins), and what an update compares with. */
  owner?: string;
  admins: Set<string>;
  avatar?: string;
  joinPolicy: 'open' | 'invite';
};

/**
 * A log that the engine could have written: conversations created before use, messages from
 * members with seq 1, 2, 3 …, receipts from members that move their watermark forward, joins of
 * non-members and leaves of members of groups, blocks and unblocks. Timestamps mostly go forward,
 * with a little jitter (engines' clocks differ).
 */
export function generateEvents(opts: {
  count: number;
  conversations?: number;
  users?: number;
  seed?: number;
  /** Largest group (joins stop there); unbounded by default. */
  maxMembers?: number;
  /**
   * Edits and deletes by the senders of messages, and members' reactions, too (taking part of the blocks' share). Opt-in:
   * it changes the log a seed gives, which older tests' expectations were written against.
   */
  changes?: boolean;
  /**
   * Group administration too (opt-in for the same reason): updates (title, avatar set and removed,
   * join policy), members added by the owner or an admin, members removed (never the owner; an
   * admin only by the owner), roles given by the owner (now and then the group handed over), and
   * messages deleted by the owner or an admin; the owner leaves only when alone. Takes half of the
   * leaves' share.
   */
  admin?: boolean;
}): ProjectedEvent[] {
  const rnd = prng(opts.seed ?? 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const users = Array.from({ length: opts.users ?? 12 }, (_, i) => `u${i}`);
  const maxConversations = opts.conversations ?? 8;
  const conversations: ConvModel[] = [];
  const blocks = new Set<string>();
  const events: ProjectedEvent[] = [];
  let clock = Date.UTC(2024, 0, 1);
  let n = 0;
  const envelope = (by: string) => {
    n++;
    clock += Math.floor(rnd() * 50);
    const jitter = rnd() < 0.1 ? -Math.floor(rnd() * 2000) : 0;
    return {
      v: 1 as const,
      id: `e_${n}`,
      actor: rnd() < 0.5 ? { id: by, name: `User ${by}` } : rnd() < 0.5 ? { id: by, name: `User ${by}`, avatar: `https://img.test/${by}.png` } : { id: by },
      at: new Date(clock + jitter).toISOString(),
      commandId: `c_${n}`,
    };
  };
  /** One administration event of group `c` as the decider would accept it, or undefined when there is none to make. */
  const adminEvent = (c: ConvModel, members: string[]): ProjectedEvent | undefined => {
    const runners = members.filter((u) => u === c.owner || c.admins.has(u));
    if (runners.length === 0) return undefined;
    const roll = rnd();
    const by = pick(runners);
    if (roll < 0.3) {
      const data: { title?: string; avatar?: string | null; joinPolicy?: 'open' | 'invite' } = {};
      if (rnd() < 0.5) data.title = `Group ${c.id} (${n + 1}) ${rnd() < 0.2 ? '“renamed” ✓' : ''}`.trim();
      if (rnd() < 0.5) data.avatar = c.avatar !== undefined && rnd() < 0.4 ? null : `https://img.test/${c.id}/${n + 1}.png?v=1&x=[y]`;
      if (rnd() < 0.3) data.joinPolicy = c.joinPolicy === 'open' ? 'invite' : 'open';
      if (Object.keys(data).length === 0) data.title = `Group ${c.id} (${n + 1})`;
      if (data.avatar === null) delete c.avatar;
      else if (data.avatar !== undefined) c.avatar = data.avatar;
      if (data.joinPolicy) c.joinPolicy = data.joinPolicy;
      return { ...envelope(by), type: 'ConversationUpdated', conversationId: c.id, data };
    }
    if (roll < 0.55) {
      const room = Math.min(1 + Math.floor(rnd() * 3), (opts.maxMembers ?? Infinity) - c.members.size);
      const added = users.filter((u) => !c.members.has(u) && rnd() < 0.3).slice(0, Math.max(0, room));
      if (added.length === 0) return undefined;
      for (const u of added) {
        c.members.add(u);
        c.read.set(u, c.last);
        c.delivered.set(u, c.last);
      }
      return { ...envelope(by), type: 'MembersAdded', conversationId: c.id, data: { members: added.map((userId) => ({ userId, role: 'member' as const })) } };
    }
    if (roll < 0.8) {
      const targets = members.filter((u) => u !== by && u !== c.owner && (!c.admins.has(u) || by === c.owner));
      if (targets.length === 0) return undefined;
      const target = pick(targets);
      c.members.delete(target);
      c.admins.delete(target);
      c.read.delete(target);
      c.delivered.delete(target);
      return { ...envelope(by), type: 'MemberRemoved', conversationId: c.id, data: { userId: target } };
    }
    if (c.owner === undefined || !c.members.has(c.owner)) return undefined;
    const targets = members.filter((u) => u !== c.owner);
    if (targets.length === 0) return undefined;
    const target = pick(targets);
    // Now and then the owner hands the group over: the target owns it, the owner is an admin.
    if (rnd() < 0.2) {
      const previousOwner = c.owner;
      c.admins.delete(target);
      c.admins.add(previousOwner);
      c.owner = target;
      return { ...envelope(previousOwner), type: 'MemberRoleChanged', conversationId: c.id, data: { userId: target, role: 'owner' as const, previousOwner } };
    }
    const role = c.admins.has(target) ? ('member' as const) : ('admin' as const);
    if (role === 'admin') c.admins.add(target);
    else c.admins.delete(target);
    return { ...envelope(c.owner), type: 'MemberRoleChanged', conversationId: c.id, data: { userId: target, role } };
  };
  while (events.length < opts.count) {
    const r = rnd();
    if (conversations.length < maxConversations && (conversations.length < 2 || r < 0.08)) {
      const creator = pick(users);
      if (rnd() < 0.3) {
        const other = pick(users.filter((u) => u !== creator));
        const id = directConversationId(creator, other);
        if (conversations.some((c) => c.id === id)) continue;
        conversations.push({
          id,
          kind: 'direct',
          members: new Set([creator, other]),
          last: 0,
          delivered: new Map(),
          read: new Map(),
          sent: [],
          admins: new Set(),
          joinPolicy: 'invite',
        });
        events.push({
          ...envelope(creator),
          type: 'ConversationCreated',
          conversationId: id,
          data: { kind: 'direct', members: [{ userId: creator, role: 'member' }, { userId: other, role: 'member' }] },
        });
      } else {
        const id = `g_${conversations.length}`;
        // Mostly small groups, now and then a big one (up to a third of the users).
        const size = rnd() < 0.1 ? Math.floor(rnd() * (users.length / 3)) : Math.floor(rnd() * 6);
        const members = new Set([creator, ...Array.from({ length: Math.min(size, (opts.maxMembers ?? Infinity) - 1) }, () => pick(users))]);
        conversations.push({ id, kind: 'group', members, last: 0, delivered: new Map(), read: new Map(), sent: [], owner: creator, admins: new Set(), joinPolicy: 'invite' });
        events.push({
          ...envelope(creator),
          type: 'ConversationCreated',
          conversationId: id,
          data: {
            kind: 'group',
            title: `Group ${id} ${rnd() < 0.2 ? '— “quoted” ✓' : ''}`.trim(),
            members: [...members].map((userId) => ({ userId, role: userId === creator ? 'owner' : 'member' })),
          },
        });
      }
      continue;
    }
    const c = pick(conversations);
    const members = [...c.members];
    if (r < 0.62) {
      if (members.length === 0) continue;
      const sender = pick(members);
      const seq = ++c.last;
      const kind = rnd();
      const type: MessageType = kind < 0.85 ? 'text' : pick(['image', 'video', 'audio', 'file'] as const);
      const long = rnd() < 0.05;
      const content =
        type !== 'text' && rnd() < 0.5
          ? undefined
          : long
            ? `${'long '.repeat(60)}😀${'x'.repeat(10)}`
            : pick(['hi', 'hello there', 'ok 👍', "it's \"quoted\" \\ back", 'line\nbreak', 'ünïcødé ✓']);
      events.push({
        ...envelope(sender),
        type: 'MessageSent',
        conversationId: c.id,
        data: {
          messageId: `m_${n + 1}`,
          seq,
          sender: { id: sender, ...(rnd() < 0.7 ? { name: `User ${sender}` } : {}) },
          type,
          ...(content !== undefined ? { content } : {}),
          ...(type !== 'text' ? { media: [{ url: `https://cdn.test/${seq}.bin`, mimeType: 'application/octet-stream', size: seq }] } : {}),
          ...(seq > 1 && rnd() < 0.1 ? { replyToId: `m_${n}` } : {}),
          ...(rnd() < 0.1 ? { mentions: members.slice(0, 2) } : {}),
          tempId: `t:${n + 1}`,
        },
      });
      const last = events.at(-1)!;
      if (last.type === 'MessageSent') c.sent.push({ messageId: last.data.messageId, seq, sender, deleted: false, reactions: new Set() });
    } else if (r < 0.86) {
      if (members.length === 0 || c.last === 0) continue;
      const userId = pick(members);
      const isRead = rnd() < 0.5;
      const marks = isRead ? c.read : c.delivered;
      const from = marks.get(userId) ?? 0;
      if (from >= c.last) continue;
      const upToSeq = from + 1 + Math.floor(rnd() * (c.last - from));
      marks.set(userId, upToSeq);
      if (isRead) c.delivered.set(userId, Math.max(c.delivered.get(userId) ?? 0, upToSeq));
      events.push({ ...envelope(userId), type: isRead ? 'MessageRead' : 'MessageDelivered', conversationId: c.id, data: { userId, upToSeq } });
    } else if (r < 0.93) {
      if (c.kind !== 'group' || c.members.size >= (opts.maxMembers ?? Infinity)) continue;
      const joiner = users.find((u) => !c.members.has(u) && rnd() < 0.5);
      if (!joiner) continue;
      c.members.add(joiner);
      c.read.set(joiner, c.last);
      c.delivered.set(joiner, c.last);
      events.push({ ...envelope(joiner), type: 'MembersAdded', conversationId: c.id, data: { members: [{ userId: joiner, role: 'member' }] } });
    } else if (opts.admin && r >= 0.95 && r < 0.97) {
      if (c.kind !== 'group') continue;
      const event = adminEvent(c, members);
      if (event) events.push(event);
    } else if (r < 0.97) {
      if (c.kind !== 'group' || members.length < 2) continue;
      const leaver = pick(members);
      // With administration, as the decider has it: the owner leaves only a group they are alone in.
      if (opts.admin && leaver === c.owner && members.length > 1) continue;
      if (leaver === c.owner) c.owner = undefined;
      c.admins.delete(leaver);
      c.members.delete(leaver);
      c.read.delete(leaver);
      c.delivered.delete(leaver);
      events.push({ ...envelope(leaver), type: 'MemberLeft', conversationId: c.id, data: { userId: leaver } });
    } else if (opts.changes && r < 0.99) {
      const roll = rnd();
      // Reactions go to the latest few messages (as in a chat), so some get several and some are taken back.
      const m = c.sent.length > 0 ? pick(roll < 0.5 ? c.sent.slice(-2) : c.sent) : undefined;
      if (!m || m.deleted) continue;
      if (roll < 0.5) {
        // A member reacts, or takes a reaction of theirs back (a pair at most once, as the decider allows).
        // Now and then a member's reaction is taken back; otherwise a member adds any of a few.
        const takeBack = [...m.reactions].filter((k) => c.members.has(k.split(' ')[0]!));
        const back = takeBack.length > 0 && rnd() < 0.4 ? pick(takeBack) : undefined;
        const reactor = back ? back.split(' ')[0]! : pick([...c.members]);
        if (reactor === undefined) continue;
        const theirs = [...m.reactions].filter((k) => k.startsWith(`${reactor} `));
        const emoji = back ? back.slice(reactor.length + 1) : pick(['👍', '❤️', '😂', '🎉']);
        const key = `${reactor} ${emoji}`;
        const had = m.reactions.has(key);
        if (!had && theirs.length >= 3) continue;
        if (had) m.reactions.delete(key);
        else m.reactions.add(key);
        events.push({ ...envelope(reactor), type: had ? 'ReactionRemoved' : 'ReactionAdded', conversationId: c.id, data: { messageId: m.messageId, seq: m.seq, emoji } });
        continue;
      }
      if (!c.members.has(m.sender)) continue;
      if (roll < 0.8) {
        events.push({
          ...envelope(m.sender),
          type: 'MessageEdited',
          conversationId: c.id,
          data: { messageId: m.messageId, seq: m.seq, content: pick(['edited', 'fixed ✓', 'ünïcødé, again']) },
        });
      } else {
        m.deleted = true;
        // The owner or an admin may delete anyone's message.
        const runners = opts.admin ? members.filter((u) => u === c.owner || c.admins.has(u)) : [];
        const deleter = runners.length > 0 && rnd() < 0.3 ? pick(runners) : m.sender;
        events.push({ ...envelope(deleter), type: 'MessageDeleted', conversationId: c.id, data: { messageId: m.messageId, seq: m.seq, sender: m.sender } });
      }
    } else {
      const by = pick(users);
      const target = pick(users.filter((u) => u !== by));
      const key = `${by}>${target}`;
      const unblock = blocks.has(key);
      if (unblock) blocks.delete(key);
      else blocks.add(key);
      events.push({
        ...envelope(by),
        type: unblock ? 'UserUnblocked' : 'UserBlocked',
        userId: by,
        data: { blockedUserId: target },
      });
    }
  }
  return events;
}

/** The subject an event is appended on. */
export function subjectOf(names: Names, event: ProjectedEvent): string {
  return 'conversationId' in event ? names.subjects.conversationEvents(event.conversationId) : names.subjects.userEvents(event.userId);
}

/** Append events to the log in order (pipelined), returning their stream sequences. */
export async function appendEvents(nc: NatsConnection, names: Names, events: ProjectedEvent[]): Promise<number[]> {
  const publisher = new JetStreamPublisher(nc, { timeoutMs: 30_000 });
  const seqs: number[] = [];
  const window = 2_000;
  for (let i = 0; i < events.length; i += window) {
    const acks = await Promise.all(events.slice(i, i + window).map((e) => publisher.publish(subjectOf(names, e), encodeJson(e))));
    for (const a of acks) seqs.push(a.seq);
  }
  await publisher.close();
  return seqs;
}

/** Poll until `check` is true (or fail with `what` after `ms`). */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/* ------------------------------------------------------------------ a prefix and a schema of their own */

/** A prefix with its streams, a schema, a database: all gone at teardown. */
export async function pgTestbed(t: Test, overrides: Partial<Config> = {}) {
  const config = testConfig(overrides);
  const names = makeNames(config.prefix);
  const nc = await connectNats(config, 'test-postgres', testLog);
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, names, config);
  const db = await openDatabase(config, testLog);
  const schemas = [config.postgres.schema];
  t.teardown(async () => {
    await db.close();
    await deleteStreams(jsm, names);
    await nc.close();
    for (const s of schemas) await dropSchemas(s);
  });
  /** Rebuild the whole log into a schema of its own and return its checksums. */
  const freshRebuild = async () => {
    const schema = testSchema();
    schemas.push(schema);
    await rebuildReadModels({ nc, config, names, log: testLog, db, schema });
    return checksums(db.pool, schema);
  };
  const lastSeq = async () => (await jsm.streams.info(names.streams.events)).state.last_seq;
  const caughtUp = async () => {
    const last = await lastSeq();
    await eventually(`checkpoint ${last}`, async () => (await readCheckpoint(db.pool, config.postgres.schema))?.logSeq === last, 60_000);
  };
  return { config, names, nc, jsm, db, freshRebuild, lastSeq, caughtUp };
}

/** Generated logs reuse ids; give a second log's conversations and messages other ones. */
export function renameConversations(tag: string) {
  return <E extends object>(e: E): E => {
    const copy = JSON.parse(JSON.stringify(e)) as { conversationId?: string; data: { messageId?: string } };
    if (copy.conversationId) copy.conversationId = `${tag}_${copy.conversationId}`;
    if (copy.data.messageId) copy.data.messageId = `${tag}_${copy.data.messageId}`;
    return copy as E;
  };
}

