/**
 * Projection specifications: given events → then rows, against real Postgres (no NATS). Each test
 * has a schema of its own. Every spec is applied twice: through the projector's batch function
 * (checkpoint, set-based statements) and through `apply` one event at a time (the reference form);
 * the two must give the same tables.
 */
import t from 'tap';
import type { Test } from 'tap';
import { evolve, initialState, type ConversationState } from '../../lib/conversation-state.js';
import { ident } from '../../lib/pg.js';
import { apply, planBatch } from '../../projections/postgres/apply.js';
import { projectBatch } from '../../projections/postgres/apply-batch.js';
import { readCheckpoint, SourceMismatchError } from '../../projections/postgres/checkpoint.js';
import type { LogEntry } from '../../projections/postgres/decode.js';
import { preview } from '../../projections/postgres/message-statements.js';
import { migrate } from '../../projections/postgres/migrate.js';
import type { LoggedEvent, ProjectedEvent } from '../../projections/postgres/statement.js';
import { eventSchemas, userEventSchemas, type ConversationEvent } from '../../schemas/index.js';
import {
  DIRECT_AB,
  GROUP,
  directCreated,
  groupCreated,
  memberLeft,
  membersAdded,
  messageDeleted,
  messageDelivered,
  messageEdited,
  reactionAdded,
  reactionRemoved,
  messageRead,
  memberRemoved,
  conversationUpdated,
  memberRoleChanged,
  messageSent,
  userBlocked,
  userUnblocked,
} from '../helpers/decider-spec.js';
import { applyEach, checksums, generateEvents, projectedBothWays, testDatabase, testSchema } from '../helpers/pg.js';
import pg from 'pg';

const at = (minute: number) => new Date(Date.UTC(2024, 4, 1, 12, minute, 0)).toISOString();
const logged = (events: ProjectedEvent[], from = 1): LogEntry[] => events.map((event, i) => ({ seq: from + i, event }));

type Spec = { pool: pg.Pool; schema: string; q: (sql: string, values?: unknown[]) => Promise<Record<string, unknown>[]> };

/** Given these events (log seq 1, 2, 3 …): the batched projection, checked against the reference one. */
async function given(t: Test, events: ProjectedEvent[]): Promise<Spec> {
  const db = await projectedBothWays(t, events);
  const s = ident(db.schema);
  return {
    pool: db.pool,
    schema: db.schema,
    q: async (sql, values = []) => (await db.pool.query(sql.replaceAll('§', `${s}.`), values)).rows,
  };
}

const conversationRow = (spec: Spec, id = GROUP) => spec.q('SELECT * FROM §conversations WHERE id = $1', [id]).then((r) => r[0]);
const memberRows = (spec: Spec, id = GROUP) =>
  spec.q('SELECT user_id, role, delivered_seq, read_seq, unread FROM §conversation_members WHERE conversation_id = $1 ORDER BY user_id', [id]);

t.test('ConversationCreated (group): the conversation and its members, owner first', async (t) => {
  const spec = await given(t, [groupCreated('alice', { members: ['alice', 'bob', 'carol'], title: 'Team', at: at(0) })]);
  const c = await conversationRow(spec);
  t.match(c, {
    id: GROUP,
    kind: 'group',
    title: 'Team',
    created_by: 'alice',
    message_count: 0,
    last_message_id: null,
    last_message_seq: 0,
    last_message_sender: null,
    last_message_preview: null,
    last_message_at: null,
    log_seq: '1',
  });
  t.equal((c!.created_at as Date).toISOString(), at(0));
  t.equal((c!.last_activity_at as Date).toISOString(), at(0));
  t.strictSame(await memberRows(spec), [
    { user_id: 'alice', role: 'owner', delivered_seq: 0, read_seq: 0, unread: 0 },
    { user_id: 'bob', role: 'member', delivered_seq: 0, read_seq: 0, unread: 0 },
    { user_id: 'carol', role: 'member', delivered_seq: 0, read_seq: 0, unread: 0 },
  ]);
  const joined = await spec.q('SELECT DISTINCT joined_at FROM §conversation_members');
  t.strictSame(joined.map((r) => (r.joined_at as Date).toISOString()), [at(0)]);
});

t.test('ConversationCreated: a group has its join policy (none on the event: invite), a direct conversation none', async (t) => {
  const spec = await given(t, [
    groupCreated('alice', { conversationId: 'g_open', joinPolicy: 'open' }),
    groupCreated('alice', { conversationId: 'g_invite', joinPolicy: 'invite' }),
    groupCreated('alice', { conversationId: 'g_old', joinPolicy: null }),
    directCreated('alice', 'bob'),
  ]);
  t.strictSame(await spec.q("SELECT id, join_policy FROM §conversations WHERE kind = 'group' ORDER BY id"), [
    { id: 'g_invite', join_policy: 'invite' },
    { id: 'g_old', join_policy: 'invite' },
    { id: 'g_open', join_policy: 'open' },
  ]);
  t.match(await conversationRow(spec, DIRECT_AB), { kind: 'direct', join_policy: null });
  // One creation alone takes the single-event statements, several the set-based ones: both write it.
  const alone = await given(t, [groupCreated('alice', { joinPolicy: 'open' })]);
  t.match(await conversationRow(alone), { join_policy: 'open' });
});

t.test('ConversationCreated (direct): no title, both users plain members', async (t) => {
  const spec = await given(t, [directCreated('alice', 'bob')]);
  t.match(await conversationRow(spec, DIRECT_AB), { kind: 'direct', title: null, created_by: 'alice' });
  t.strictSame(
    (await memberRows(spec, DIRECT_AB)).map((m) => [m.user_id, m.role]),
    [
      ['alice', 'member'],
      ['bob', 'member'],
    ],
  );
});

t.test('MessageSent: the message row, the conversation counters and last message, unread +1 for every other member', async (t) => {
  const spec = await given(t, [
    groupCreated('alice', { members: ['alice', 'bob', 'carol'], at: at(0) }),
    messageSent('alice', GROUP, 1, { tempId: 'a1', content: 'hello', at: at(1) }),
    messageSent('bob', GROUP, 2, {
      tempId: 'b1',
      content: 'see this',
      type: 'image',
      media: [{ url: 'https://cdn.test/x.png', mimeType: 'image/png', width: 10 }],
      replyToId: 'm_a1',
      mentions: ['alice'],
      at: at(2),
    }),
  ]);
  const messages = await spec.q('SELECT * FROM §messages ORDER BY seq');
  t.equal(messages.length, 2);
  t.match(messages[0], {
    id: 'm_a1',
    conversation_id: GROUP,
    seq: 1,
    sender_id: 'alice',
    sender_name: 'Alice',
    sender_avatar: 'https://img.test/alice.png',
    type: 'text',
    content: 'hello',
    media: null,
    reply_to_id: null,
    mentions: null,
    temp_id: 'a1',
    edited_at: null,
    deleted_at: null,
    log_seq: '2',
  });
  t.equal((messages[0]!.created_at as Date).toISOString(), at(1));
  t.match(messages[1], {
    id: 'm_b1',
    sender_name: 'Bob',
    sender_avatar: null,
    type: 'image',
    media: [{ url: 'https://cdn.test/x.png', mimeType: 'image/png', width: 10 }],
    reply_to_id: 'm_a1',
    mentions: ['alice'],
    log_seq: '3',
  });
  const c = await conversationRow(spec);
  t.match(c, {
    message_count: 2,
    last_message_id: 'm_b1',
    last_message_seq: 2,
    last_message_sender: 'bob',
    last_message_preview: 'see this',
    log_seq: '3',
  });
  t.equal((c!.last_message_at as Date).toISOString(), at(2));
  t.equal((c!.last_activity_at as Date).toISOString(), at(2));
  t.strictSame(
    (await memberRows(spec)).map((m) => [m.user_id, m.unread]),
    [
      ['alice', 1],
      ['bob', 1],
      ['carol', 2],
    ],
  );
});

t.test('MessageSent: the preview is the first 200 characters (not UTF-16 units), or [type] without content', async (t) => {
  const long = `${'x'.repeat(199)}😀 and more`;
  const spec = await given(t, [
    groupCreated('alice', { members: ['alice', 'bob'] }),
    messageSent('alice', GROUP, 1, { tempId: 'a1', content: long }),
  ]);
  t.equal((await conversationRow(spec))!.last_message_preview, `${'x'.repeat(199)}😀`);
  t.equal(preview(long, 'text'), `${'x'.repeat(199)}😀`);
  t.equal(preview(undefined, 'image'), '[image]');
  t.equal(preview('', 'file'), '[file]');

  const media = await given(t, [
    groupCreated('alice', { members: ['alice', 'bob'] }),
    messageSent('bob', GROUP, 1, { tempId: 'b1', content: undefined, type: 'image', media: [{ url: 'https://cdn.test/1' }] }),
  ]);
  t.match(await conversationRow(media), { last_message_preview: '[image]', last_message_sender: 'bob' });
  t.match((await media.q('SELECT content FROM §messages'))[0], { content: null });
});

t.test('MessageSent: last_activity_at never goes back when an event carries an earlier clock', async (t) => {
  const spec = await given(t, [
    groupCreated('alice', { members: ['alice', 'bob'], at: at(0) }),
    messageSent('alice', GROUP, 1, { tempId: 'a1', at: at(5) }),
    messageSent('bob', GROUP, 2, { tempId: 'b1', at: at(4) }),
  ]);
  const c = await conversationRow(spec);
  t.equal((c!.last_activity_at as Date).toISOString(), at(5));
  t.equal((c!.last_message_at as Date).toISOString(), at(4), 'the last message is the last one in the log');
});

t.test('MessageDelivered: the delivered watermark goes up, never back; read and unread stay', async (t) => {
  const spec = await given(t, [
    groupCreated('alice', { members: ['alice', 'bob'] }),
    messageSent('alice', GROUP, 1, { tempId: 'a1' }),
    messageSent('alice', GROUP, 2, { tempId: 'a2' }),
    messageSent('alice', GROUP, 3, { tempId: 'a3' }),
    messageDelivered('bob', 3),
    messageDelivered('bob', 2, GROUP, { commandId: 'late' }),
  ]);
  t.match(await memberRows(spec), [{ user_id: 'alice' }, { user_id: 'bob', delivered_seq: 3, read_seq: 0, unread: 3 }]);
  t.match(await conversationRow(spec), { log_seq: '6', message_count: 3 });
});

t.test('MessageRead: read implies delivered; unread is recounted from messages from others after the watermark', async (t) => {
  const spec = await given(t, [
    groupCreated('alice', { members: ['alice', 'bob', 'carol'] }),
    messageSent('alice', GROUP, 1, { tempId: 'a1' }),
    messageSent('bob', GROUP, 2, { tempId: 'b1' }),
    messageSent('alice', GROUP, 3, { tempId: 'a2' }),
    messageSent('carol', GROUP, 4, { tempId: 'c1' }),
    messageSent('bob', GROUP, 5, { tempId: 'b2' }),
    messageRead('bob', 3),
    messageDelivered('carol', 5),
    messageRead('carol', 2),
  ]);
  t.strictSame(await memberRows(spec), [
    { user_id: 'alice', role: 'owner', delivered_seq: 0, read_seq: 0, unread: 3 },
    // after 3: carol's 4 is from another, bob's own 5 is not
    { user_id: 'bob', role: 'member', delivered_seq: 3, read_seq: 3, unread: 1 },
    // a read below the delivered watermark leaves it where it is; after 2: 3 (alice) and 5 (bob)
    { user_id: 'carol', role: 'member', delivered_seq: 5, read_seq: 2, unread: 2 },
  ]);
});

t.test('MessageRead: a stale read does not move the watermark back nor change unread', async (t) => {
  const spec = await given(t, [
    groupCreated('alice', { members: ['alice', 'bob'] }),
    messageSent('alice', GROUP, 1, { tempId: 'a1' }),
    messageSent('alice', GROUP, 2, { tempId: 'a2' }),
    messageSent('alice', GROUP, 3, { tempId: 'a3' }),
    messageRead('bob', 2),
    messageRead('bob', 1, GROUP, { commandId: 'stale' }),
  ]);
  t.match(await memberRows(spec), [{}, { user_id: 'bob', read_seq: 2, delivered_seq: 2, unread: 1 }]);
});

t.test('MembersAdded: a joiner starts at the last message (nothing unread); before any message at 0', async (t) => {
  const spec = await given(t, [
    groupCreated('alice', { members: ['alice'], at: at(0) }),
    membersAdded('bob', GROUP, { at: at(1) }),
    messageSent('alice', GROUP, 1, { tempId: 'a1', at: at(2) }),
    messageSent('bob', GROUP, 2, { tempId: 'b1', at: at(3) }),
    membersAdded('carol', GROUP, { at: at(4) }),
    messageSent('alice', GROUP, 3, { tempId: 'a2', at: at(5) }),
    messageRead('carol', 3),
  ]);
  t.strictSame(await memberRows(spec), [
    { user_id: 'alice', role: 'owner', delivered_seq: 0, read_seq: 0, unread: 1 },
    { user_id: 'bob', role: 'member', delivered_seq: 0, read_seq: 0, unread: 2 },
    { user_id: 'carol', role: 'member', delivered_seq: 3, read_seq: 3, unread: 0 },
  ]);
  const carol = await spec.q("SELECT joined_at FROM §conversation_members WHERE user_id = 'carol'");
  t.equal((carol[0]!.joined_at as Date).toISOString(), at(4));

  const joinedLate = await given(t, [
    groupCreated('alice', { members: ['alice'], at: at(0) }),
    messageSent('alice', GROUP, 1, { tempId: 'a1', at: at(1) }),
    messageSent('alice', GROUP, 2, { tempId: 'a2', at: at(2) }),
    membersAdded('dave', GROUP, { at: at(3) }),
  ]);
  t.match(await memberRows(joinedLate), [{}, { user_id: 'dave', delivered_seq: 2, read_seq: 2, unread: 0 }]);
  t.equal(((await conversationRow(joinedLate))!.last_activity_at as Date).toISOString(), at(3), 'a join is activity');
});

const joinedAfter = (spec: Spec, id = GROUP) =>
  spec.q('SELECT user_id, joined_after_seq FROM §conversation_members WHERE conversation_id = $1 ORDER BY user_id', [id]);

t.test('MembersAdded: joined_after_seq is the last message seq at the join (creators and first members 0)', async (t) => {
  const spec = await given(t, [
    groupCreated('alice', { members: ['alice', 'bob'], at: at(0) }),
    membersAdded('carol', GROUP, { at: at(1) }),
    messageSent('alice', GROUP, 1, { tempId: 'a1' }),
    messageSent('bob', GROUP, 2, { tempId: 'b1' }),
    membersAdded('dave', GROUP, { at: at(2) }),
    messageSent('dave', GROUP, 3, { tempId: 'd1' }),
    messageRead('dave', 3),
    membersAdded('erin', GROUP, { at: at(3) }),
  ]);
  t.strictSame(await joinedAfter(spec), [
    { user_id: 'alice', joined_after_seq: 0 },
    { user_id: 'bob', joined_after_seq: 0 },
    { user_id: 'carol', joined_after_seq: 0 },
    { user_id: 'dave', joined_after_seq: 2 },
    { user_id: 'erin', joined_after_seq: 3 },
  ]);
  t.strictSame(await joinedAfter(await given(t, [directCreated('alice', 'bob'), messageSent('alice', DIRECT_AB, 1)]), DIRECT_AB), [
    { user_id: 'alice', joined_after_seq: 0 },
    { user_id: 'bob', joined_after_seq: 0 },
  ]);
});

t.test('MembersAdded: a member who left and rejoins starts from the rejoin; a current member re-added keeps theirs', async (t) => {
  const spec = await given(t, [
    groupCreated('alice', { members: ['alice', 'bob', 'carol'] }),
    messageSent('alice', GROUP, 1, { tempId: 'a1' }),
    memberLeft('bob'),
    messageSent('alice', GROUP, 2, { tempId: 'a2' }),
    membersAdded('bob', GROUP, { commandId: 'rejoin' }),
    messageSent('alice', GROUP, 3, { tempId: 'a3' }),
    membersAdded('carol', GROUP, { commandId: 'again' }),
  ]);
  t.strictSame(await joinedAfter(spec), [
    { user_id: 'alice', joined_after_seq: 0 },
    { user_id: 'bob', joined_after_seq: 2 },
    { user_id: 'carol', joined_after_seq: 0 },
  ]);
});

t.test('MembersAdded in a batch right after messages of its conversation sees them (the run is flushed first)', async (t) => {
  // `given` applies these as one batch: the messages are a set-based run, then the join.
  const spec = await given(t, [
    groupCreated('alice', { members: ['alice'] }),
    ...Array.from({ length: 5 }, (_, i) => messageSent('alice', GROUP, i + 1, { tempId: `a${i + 1}` })),
    membersAdded('bob'),
    messageSent('alice', GROUP, 6, { tempId: 'a6' }),
  ]);
  t.match(await joinedAfter(spec), [{}, { user_id: 'bob', joined_after_seq: 5 }]);
});

t.test('MembersAdded of a current member: role updated, watermarks reset to the last message, joined_at kept', async (t) => {
  const spec = await given(t, [
    groupCreated('alice', { members: ['alice', 'bob'], at: at(0) }),
    messageSent('alice', GROUP, 1, { tempId: 'a1' }),
    {
      ...membersAdded('bob', GROUP, { at: at(3) }),
      data: {
        members: [
          { userId: 'bob', role: 'member' },
          { userId: 'bob', role: 'owner' },
        ],
      },
    },
  ]);
  const bob = await spec.q("SELECT role, read_seq, delivered_seq, unread, joined_at FROM §conversation_members WHERE user_id = 'bob'");
  t.match(bob[0], { role: 'owner', read_seq: 1, delivered_seq: 1, unread: 0 });
  t.equal((bob[0]!.joined_at as Date).toISOString(), at(0));
});

t.test('MemberLeft: the member row goes, messages stay; a re-join starts at the last message', async (t) => {
  const spec = await given(t, [
    groupCreated('alice', { members: ['alice', 'bob'] }),
    messageSent('bob', GROUP, 1, { tempId: 'b1' }),
    memberLeft('bob'),
    messageSent('alice', GROUP, 2, { tempId: 'a1' }),
  ]);
  t.strictSame(
    (await memberRows(spec)).map((m) => m.user_id),
    ['alice'],
  );
  t.equal((await spec.q('SELECT count(*)::int AS n FROM §messages'))[0]!.n, 2);
  t.match(await conversationRow(spec), { log_seq: '4', message_count: 2 });

  const rejoin = await given(t, [
    groupCreated('alice', { members: ['alice', 'bob'] }),
    messageSent('alice', GROUP, 1, { tempId: 'a1' }),
    memberLeft('bob'),
    messageSent('alice', GROUP, 2, { tempId: 'a2' }),
    membersAdded('bob', GROUP, { commandId: 'rejoin' }),
    messageSent('alice', GROUP, 3, { tempId: 'a3' }),
  ]);
  t.match(await memberRows(rejoin), [{}, { user_id: 'bob', read_seq: 2, delivered_seq: 2, unread: 1 }]);
});

t.test('UserBlocked / UserUnblocked: one row per pair, a second block changes nothing', async (t) => {
  const spec = await given(t, [
    userBlocked('alice', 'bob', { at: at(1) }),
    userBlocked('alice', 'bob', { at: at(2), commandId: 'again' }),
    userBlocked('carol', 'alice', { at: at(3) }),
    userUnblocked('carol', 'alice', { at: at(4) }),
    userUnblocked('dave', 'alice', { at: at(5) }),
  ]);
  const rows = await spec.q('SELECT blocker_id, blocked_id, created_at FROM §blocks ORDER BY 1, 2');
  t.equal(rows.length, 1);
  t.match(rows[0], { blocker_id: 'alice', blocked_id: 'bob' });
  t.equal((rows[0]!.created_at as Date).toISOString(), at(1));
});

t.test('events of a conversation the read models do not have change nothing and do not fail', async (t) => {
  const spec = await given(t, [
    membersAdded('bob', 'g_missing'),
    messageSent('bob', 'g_missing', 1, { tempId: 'b1' }),
    messageRead('bob', 1, 'g_missing'),
  ]);
  t.equal((await spec.q('SELECT count(*)::int AS n FROM §messages'))[0]!.n, 0);
  t.equal((await spec.q('SELECT count(*)::int AS n FROM §conversation_members'))[0]!.n, 0);
  t.equal((await readCheckpoint(spec.pool, spec.schema))!.logSeq, 3, 'stepped over, checkpoint moved');
});

t.test('every event type has its statements (the switch is exhaustive)', async (t) => {
  const samples: Record<string, ProjectedEvent> = {
    ConversationCreated: groupCreated('alice'),
    MembersAdded: membersAdded('bob'),
    MemberLeft: memberLeft('bob'),
    MessageSent: messageSent('alice', GROUP, 1),
    MessageEdited: messageEdited('alice', 'm_t1', 1, 'edited'),
    MessageDeleted: messageDeleted('alice', 'm_t1', 1, 'alice'),
    ReactionAdded: reactionAdded('bob', 'm_t1', 1, '👍'),
    ReactionRemoved: reactionRemoved('bob', 'm_t1', 1, '👍'),
    MessageDelivered: messageDelivered('bob', 1),
    MessageRead: messageRead('bob', 1),
    MemberRemoved: memberRemoved('alice', 'bob'),
    ConversationUpdated: conversationUpdated('alice', { title: 'New' }),
    MemberRoleChanged: memberRoleChanged('alice', 'bob', 'admin'),
    UserBlocked: userBlocked('alice', 'bob'),
    UserUnblocked: userUnblocked('alice', 'bob'),
  };
  t.strictSame(Object.keys(samples).sort(), [...Object.keys(eventSchemas), ...Object.keys(userEventSchemas)].sort(), 'a sample of every type');
  for (const [type, event] of Object.entries(samples)) {
    t.ok(apply({ seq: 1, event }).length > 0, `${type} has statements`);
    t.ok(planBatch([{ seq: 1, event }]).length > 0, `${type} has batched statements`);
  }
  t.throws(() => apply({ seq: 1, event: { ...samples.MemberLeft!, type: 'Bogus' } as unknown as ProjectedEvent }), /unknown event Bogus/);
});

t.test('redelivery: the same batch twice, and overlapping batches, apply every event once', async (t) => {
  const events = generateEvents({ count: 400, seed: 7 });
  const once = await testDatabase(t);
  const twice = await testDatabase(t);
  const entries = logged(events);
  const first = await projectBatch(once.pool, once.schema, entries);
  t.equal(first.applied, 400);
  const again = await projectBatch(once.pool, once.schema, entries);
  t.strictSame(again, { applied: 0, skipped: 400, checkpoint: 400, statements: 0, held: [] }, 'a redelivered batch is skipped whole');

  // Batches that overlap (a redelivery that crosses a batch boundary), some entries repeated.
  await projectBatch(twice.pool, twice.schema, entries.slice(0, 150));
  const overlap = await projectBatch(twice.pool, twice.schema, [...entries.slice(100, 300), ...entries.slice(250, 260)]);
  t.match(overlap, { applied: 150, skipped: 60, checkpoint: 300 });
  await projectBatch(twice.pool, twice.schema, entries.slice(0, 400));
  t.strictSame(await checksums(twice.pool, twice.schema), await checksums(once.pool, once.schema), 'same tables as applying once');
});

t.test('events behind a missing one are held back, not applied; a hole without events is stepped over', async (t) => {
  const db = await testDatabase(t);
  const reference = await testDatabase(t);
  const entries = logged(generateEvents({ count: 60, seed: 3 }));
  await projectBatch(reference.pool, reference.schema, entries);
  await projectBatch(db.pool, db.schema, entries.slice(0, 10));
  const missing = new Set([13, 14, 15, 40]); // received later (redelivered after a crash)
  const asked: [number, number][] = [];
  const nothingBetween = async (after: number, next: number) => {
    asked.push([after, next]);
    for (let seq = after + 1; seq < next; seq++) if (missing.has(seq)) return false;
    return true;
  };
  const first = await projectBatch(
    db.pool,
    db.schema,
    entries.slice(10, 50).filter((e) => !missing.has(e.seq)),
    { nothingBetween },
  );
  t.match(first, { applied: 2, checkpoint: 12, held: [16, 17, 18] }, 'applies 11, 12; holds 16 … 39, 41 … 50');
  t.equal(first.held.length, 50 - 15 - 1);
  t.strictSame(asked, [[12, 16]]);
  const second = await projectBatch(db.pool, db.schema, entries.slice(10, 50), { nothingBetween });
  t.match(second, { applied: 38, skipped: 2, checkpoint: 50, held: [] });
  await projectBatch(db.pool, db.schema, entries.slice(50), { nothingBetween });
  t.strictSame(await checksums(db.pool, db.schema), await checksums(reference.pool, reference.schema), 'same as in order');

  // Sequences that were never events (deleted messages): stepped over.
  const holes = await testDatabase(t);
  const r = await projectBatch(holes.pool, holes.schema, entries.filter((e) => e.seq !== 5 && e.seq !== 30), {
    nothingBetween: async () => true,
  });
  t.match(r, { checkpoint: 60, held: [] });
});

t.test('a checkpoint of another event log is refused', async (t) => {
  const db = await testDatabase(t);
  const entries = logged(generateEvents({ count: 20, seed: 4 }));
  await projectBatch(db.pool, db.schema, entries.slice(0, 10), { source: 'CHAT_EVENTS@2024-01-01T00:00:00Z' });
  await t.rejects(projectBatch(db.pool, db.schema, entries.slice(10), { source: 'OTHER_EVENTS@2024-02-02T00:00:00Z' }), SourceMismatchError);
  t.match(await readCheckpoint(db.pool, db.schema), { logSeq: 10, source: 'CHAT_EVENTS@2024-01-01T00:00:00Z' });
});

t.test('a generated log: batched in any sizes = event by event, and members mirror the engine’s evolve', async (t) => {
  const events = generateEvents({ count: 2000, conversations: 12, users: 15, seed: 41, changes: true, admin: true });
  const types = new Set(events.map((e) => e.type));
  t.equal(types.size, 15, `the log has every event type (${[...types].join(', ')})`);
  const reference = await testDatabase(t);
  await applyEach(reference.pool, reference.schema, logged(events) as LoggedEvent[]);
  const expected = await checksums(reference.pool, reference.schema);
  delete expected.checkpoint;
  for (const size of [1, 13, 500, 2000]) {
    const db = await testDatabase(t);
    const entries = logged(events);
    for (let i = 0; i < entries.length; i += size) await projectBatch(db.pool, db.schema, entries.slice(i, i + size));
    const got = await checksums(db.pool, db.schema);
    t.equal(got.checkpoint, '2000');
    delete got.checkpoint;
    t.strictSame(got, expected, `batches of ${size}`);
  }

  // The engine's own fold of the same events.
  const states = new Map<string, ConversationState>();
  events.forEach((e, i) => {
    if (!('conversationId' in e)) return;
    const state = states.get(e.conversationId) ?? initialState(e.conversationId);
    states.set(e.conversationId, evolve(state, e as ConversationEvent, i + 1));
  });
  const s = ident(reference.schema);
  const rows = (
    await reference.pool.query(
      `SELECT conversation_id, user_id, role, delivered_seq, read_seq, unread FROM ${s}.conversation_members ORDER BY 1, 2`,
    )
  ).rows;
  const fromEvolve = [...states.values()]
    .flatMap((st) =>
      [...st.members].map(([userId, role]) => ({
        conversation_id: st.id,
        user_id: userId,
        role,
        delivered_seq: st.delivered.get(userId) ?? 0,
        read_seq: st.read.get(userId) ?? 0,
        unread: st.unread.get(userId) ?? 0,
      })),
    )
    .sort((a, b) => (a.conversation_id === b.conversation_id ? (a.user_id < b.user_id ? -1 : 1) : a.conversation_id < b.conversation_id ? -1 : 1));
  t.ok(fromEvolve.some((m) => m.unread > 0) && fromEvolve.some((m) => m.read_seq > 0), 'the fold has unread and read members');
  t.strictSame(rows, fromEvolve, 'members, roles, watermarks and unread as the decider folds them');
  const conversations = (
    await reference.pool.query(`SELECT id, kind, title, avatar, join_policy, created_by, last_message_seq, message_count FROM ${s}.conversations ORDER BY id`)
  ).rows;
  t.strictSame(
    conversations,
    [...states.values()]
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((st) => ({
        id: st.id,
        kind: st.kind,
        title: st.title ?? null,
        avatar: st.avatar ?? null,
        join_policy: st.joinPolicy ?? null,
        created_by: st.createdBy,
        last_message_seq: st.lastMessageSeq,
        message_count: st.lastMessageSeq,
      })),
    'conversations as the decider folds them',
  );
});

t.test('migrations: two processes migrating one fresh schema at once apply each file once', async (t) => {
  const schema = testSchema();
  const db = await testDatabase(t, schema); // migrated once, dropped at teardown
  await db.pool.query(`DROP SCHEMA ${ident(schema)} CASCADE`);
  const other = new pg.Pool({ connectionString: (db.describe as string), max: 2 });
  t.teardown(() => other.end());
  const [a, b] = await Promise.all([migrate(db.pool, schema), migrate(other, schema)]);
  t.strictSame([...a.applied, ...b.applied].sort(), ['001_read_models', '002_checkpoint_source', '003_privacy', '004_parked_events', '005_presence', '006_reactions', '007_group_admin'], 'each migration applied by one of them');
  const versions = (await db.pool.query(`SELECT version FROM ${ident(schema)}.schema_migrations ORDER BY version`)).rows.map((r) => r.version);
  t.strictSame(versions, ['001', '002', '003', '004', '005', '006', '007']);
  t.strictSame(await migrate(db.pool, schema), { applied: [] }, 'a restart applies nothing');
});
