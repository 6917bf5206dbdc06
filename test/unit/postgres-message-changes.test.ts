import t from 'tap';
import type { Test } from 'tap';
import { evolve, initialState } from '../../lib/conversation-state.js';
import { ident } from '../../lib/pg.js';
import type { ConversationEvent } from '../../schemas/index.js';
import { GROUP, groupCreated, messageDeleted, messageEdited, messageIdOf, messageRead, messageSent } from '../helpers/decider-spec.js';
import { projectedBothWays } from '../helpers/pg.js';

/** Edits and deletes in the read models: batched = event by event, and unread as the engine folds it. */


async function given(t: Test, events: ConversationEvent[]) {
  const db = await projectedBothWays(t, events);
  const state = initialState(GROUP);
  events.forEach((e, i) => evolve(state, e, i + 1));
  const s = ident(db.schema);
  const q = async (sql: string, values: unknown[] = []) => (await db.pool.query(sql.replaceAll('§', `${s}.`), values)).rows;
  for (const row of await q('SELECT user_id, unread FROM §conversation_members WHERE conversation_id = $1', [GROUP])) {
    t.equal(row.unread, state.unread.get(row.user_id as string) ?? 0, `unread of ${String(row.user_id)} as evolve folds it`);
  }
  return q;
}

const M1 = messageIdOf('t1');
const M2 = messageIdOf('t2');
const team = () => groupCreated('alice', { members: ['alice', 'bob', 'carol'] });
const EDITED_AT = '2024-05-01T12:05:00.000Z';

t.test('an edit: the current content and edited_at; the preview of the last message follows', async (t) => {
  const q = await given(t, [team(), messageSent('bob', GROUP, 1), messageEdited('bob', M1, 1, 'fixed', GROUP, { at: EDITED_AT })]);
  const [m] = await q('SELECT content, edited_at, deleted_at FROM §messages WHERE id = $1', [M1]);
  t.equal(m!.content, 'fixed');
  t.equal((m!.edited_at as Date).toISOString(), EDITED_AT);
  t.equal(m!.deleted_at, null);
  const [c] = await q('SELECT last_message_preview FROM §conversations WHERE id = $1', [GROUP]);
  t.equal(c!.last_message_preview, 'fixed');
});

t.test('an edit of an earlier message leaves the preview of the last one', async (t) => {
  const q = await given(t, [
    team(),
    messageSent('bob', GROUP, 1),
    messageSent('bob', GROUP, 2, { tempId: 't2', content: 'last' }),
    messageEdited('bob', M1, 1, 'fixed'),
  ]);
  const [c] = await q('SELECT last_message_preview FROM §conversations WHERE id = $1', [GROUP]);
  t.equal(c!.last_message_preview, 'last');
});

t.test('a delete: a tombstone (no content, media or mentions), deleted_at, and out of unread', async (t) => {
  const q = await given(t, [
    team(),
    messageSent('bob', GROUP, 1, { type: 'image', media: [{ url: 'https://cdn.test/a.png', mimeType: 'image/png', size: 1 }], mentions: ['carol'] }),
    messageSent('bob', GROUP, 2, { tempId: 't2' }),
    messageRead('carol', 2),
    messageDeleted('alice', M1, 1, 'bob', GROUP, { at: EDITED_AT }),
  ]);
  const [m] = await q('SELECT content, media, mentions, deleted_at FROM §messages WHERE id = $1', [M1]);
  t.strictSame({ content: m!.content, media: m!.media, mentions: m!.mentions }, { content: null, media: null, mentions: null });
  t.equal((m!.deleted_at as Date).toISOString(), EDITED_AT);
  const members = await q('SELECT user_id, unread FROM §conversation_members ORDER BY user_id');
  t.strictSame(members, [
    { user_id: 'alice', unread: 1 },
    { user_id: 'bob', unread: 0 },
    { user_id: 'carol', unread: 0 },
  ]);
});

t.test('deleting the last message empties the preview; a read afterwards does not count it', async (t) => {
  const q = await given(t, [
    team(),
    messageSent('bob', GROUP, 1),
    messageSent('bob', GROUP, 2, { tempId: 't2' }),
    messageDeleted('bob', M2, 2, 'bob'),
    messageRead('alice', 0 + 1),
  ]);
  const [c] = await q('SELECT last_message_preview FROM §conversations WHERE id = $1', [GROUP]);
  t.equal(c!.last_message_preview, null);
  const [alice] = await q("SELECT unread FROM §conversation_members WHERE user_id = 'alice'");
  t.equal(alice!.unread, 0);
});

t.test('an edit after the delete (the log never has one, but) leaves the tombstone', async (t) => {
  const q = await given(t, [team(), messageSent('bob', GROUP, 1), messageDeleted('bob', M1, 1, 'bob'), messageEdited('bob', M1, 1, 'back')]);
  const [m] = await q('SELECT content, edited_at FROM §messages WHERE id = $1', [M1]);
  t.strictSame({ content: m!.content, edited_at: m!.edited_at }, { content: null, edited_at: null });
});
