/**
 * The log of a group's administration, read back: `parley replay` describes the new events in
 * order, and a rebuild of the read models from the log gives the same conversations and members
 * as the live projector wrote.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { runReplay } from '../../cli/replay.js';
import { ident, openDatabase } from '../../lib/pg.js';
import { connectNats, jetstreamManager } from '../../lib/nats.js';
import { makeNames } from '../../lib/names.js';
import { readCheckpoint } from '../../projections/postgres/checkpoint.js';
import { rebuildReadModels } from '../../projections/postgres/rebuild.js';
import type { TestClient } from '../helpers/client.js';
import { settleLog } from '../helpers/event-log.js';
import { dropSchemas, eventually, testSchema } from '../helpers/pg.js';
import { startSystem, testLog } from '../helpers/system.js';

/** Send a frame and wait for the frame of `answer` that carries its ref. */
async function accepted(client: TestClient, ref: string, type: string, payload: object, answer: string): Promise<void> {
  client.send({ type, ref, payload });
  await client.next(answer, (f) => f.ref === ref);
}

/** `parley replay --conversation <id>` in-process; stdout as text. */
async function replay(env: Record<string, string>, conversationId: string): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (into: string[]) => new Writable({ write: (chunk, _e, cb) => (into.push(String(chunk)), cb()) });
  const code = await runReplay(['--conversation', conversationId], { stdout: sink(out), stderr: sink(err), env });
  return { code, out: out.join(''), err: err.join('') };
}

t.test('updates, adds, removes and role changes: described by parley replay in order; a rebuild gives the same conversations and members', async (t) => {
  const sys = await startSystem(t);
  const names = makeNames(sys.config.prefix);
  const nc = await connectNats(sys.config, 'group-admin-audit', testLog);
  t.teardown(() => nc.close());
  const [ann, ben, cat, dan, eve] = await Promise.all(['ann', 'ben', 'cat', 'dan', 'eve'].map((u) => sys.connect(u)));

  ann!.send({ type: 'conversation.create', payload: { kind: 'group', title: 'Ops', members: ['ben', 'cat'] } });
  const id = (await ann!.next('conversation.created')).payload.conversation.id as string;
  const say = (who: TestClient, tempId: string) => accepted(who, tempId, 'message.send', { conversationId: id, tempId, content: tempId }, 'message.sent');
  await say(ann!, 'first');
  await accepted(ann!, 'u1', 'conversation.update', { conversationId: id, title: '  Ops two ' }, 'conversation.updated');
  await accepted(ann!, 'u2', 'conversation.update', { conversationId: id, avatar: 'https://img.test/ops.png' }, 'conversation.updated');
  await accepted(ann!, 'r1', 'conversation.set_role', { conversationId: id, userId: 'ben', role: 'admin' }, 'conversation.updated');
  await accepted(ben!, 'a1', 'conversation.add_members', { conversationId: id, userIds: ['dan', 'eve'] }, 'conversation.member_joined');
  await say(eve!, 'from-eve');
  await accepted(ben!, 'rm1', 'conversation.remove_member', { conversationId: id, userId: 'dan' }, 'conversation.member_left');
  await accepted(ann!, 'u3', 'conversation.update', { conversationId: id, avatar: null, joinPolicy: 'open' }, 'conversation.updated');
  await accepted(ann!, 'r2', 'conversation.set_role', { conversationId: id, userId: 'ben', role: 'member' }, 'conversation.updated');
  await accepted(ann!, 'r3', 'conversation.set_role', { conversationId: id, userId: 'eve', role: 'admin' }, 'conversation.updated');
  cat!.send({ type: 'message.read', payload: { conversationId: id } });
  await accepted(cat!, 'l1', 'conversation.leave', { conversationId: id }, 'conversation.member_left');
  await say(ann!, 'last');
  await dan!.next('conversation.member_left');
  await settleLog(await jetstreamManager(nc), names);

  // parley replay: the administration rows, in order, with actor and description.
  const r = await replay({ PARLEY_NATS_URL: sys.config.natsUrl.join(','), PARLEY_PREFIX: sys.config.prefix, PARLEY_LOG_LEVEL: 'warn' }, id);
  t.equal(r.code, 0, 'exit 0', { stderr: r.err });
  const rows = r.out
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((row) => /^\s*\d+ {2}\S+\s+(\S+)\s+(\S+)\s+(.*)$/.exec(row)!.slice(1));
  const administration = rows.filter(([type]) => !['MessageSent', 'MessageDelivered', 'MessageRead'].includes(type!));
  t.strictSame(administration, [
    ['ConversationCreated', 'ann', 'group "Ops": ann (owner), ben, cat'],
    ['ConversationUpdated', 'ann', 'updated: title "Ops two"'],
    ['ConversationUpdated', 'ann', 'updated: avatar https://img.test/ops.png'],
    ['MemberRoleChanged', 'ann', 'ben is now admin'],
    ['MembersAdded', 'ben', 'added dan, eve'],
    ['MemberRemoved', 'ben', 'dan removed'],
    ['ConversationUpdated', 'ann', 'updated: avatar removed, join policy open'],
    ['MemberRoleChanged', 'ann', 'ben is now member'],
    ['MemberRoleChanged', 'ann', 'eve is now admin'],
    ['MemberLeft', 'cat', 'cat left'],
  ]);
  t.strictSame(
    rows.filter(([type]) => type === 'MessageSent').map(([, actor]) => actor),
    ['ann', 'eve', 'ann'],
    'the messages between them',
  );

  // A rebuild from the log into a schema of its own: the same rows as the live projector's.
  const db = await openDatabase(sys.config, testLog);
  const rebuilt = testSchema();
  t.teardown(async () => {
    await db.close();
    await dropSchemas(rebuilt);
  });
  const lastSeq = (await (await jetstreamManager(nc)).streams.info(names.streams.events)).state.last_seq;
  await eventually(`the live projector at ${lastSeq}`, async () => (await readCheckpoint(db.pool, sys.config.postgres.schema))?.logSeq === lastSeq);
  await rebuildReadModels({ nc, config: sys.config, names, log: testLog, db, schema: rebuilt });
  const rowsOf = async (schema: string, table: string, order: string) =>
    (await db.pool.query(`SELECT t::text AS row FROM ${ident(schema)}.${table} t ORDER BY ${order}`)).rows.map((x: { row: string }) => x.row);
  for (const [table, order] of [
    ['conversations', 'id'],
    ['conversation_members', 'conversation_id, user_id'],
  ] as const) {
    t.strictSame(await rowsOf(rebuilt, table, order), await rowsOf(sys.config.postgres.schema, table, order), `${table}: the same rows`);
  }
  const group = await db.pool.query(`SELECT title, avatar, join_policy FROM ${ident(rebuilt)}.conversations WHERE id = $1`, [id]);
  t.strictSame(group.rows, [{ title: 'Ops two', avatar: null, join_policy: 'open' }], 'the rebuilt group, as updated');
  const members = await db.pool.query(`SELECT user_id, role FROM ${ident(rebuilt)}.conversation_members WHERE conversation_id = $1 ORDER BY user_id`, [id]);
  t.strictSame(
    members.rows.map((m: { user_id: string; role: string }) => `${m.user_id}:${m.role}`),
    ['ann:owner', 'ben:member', 'eve:admin'],
    'the rebuilt members: removed and left gone, roles as last set',
  );
});
