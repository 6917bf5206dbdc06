import t from 'tap';
import { encodeUnreadHeader, parseUnreadHeader } from '../../projections/delivery/unread-header.js';

t.test('an unread count survives the header', async (t) => {
  const count = { conversationId: 'd_HLFUV9Hdq2DiBcD-PKL2XR4n4bB', unread: 3, totalUnread: 12 };
  t.equal(encodeUnreadHeader(count), 'd_HLFUV9Hdq2DiBcD-PKL2XR4n4bB 3 12');
  t.same(parseUnreadHeader(encodeUnreadHeader(count)), count);
  t.same(parseUnreadHeader('g_x 0 0'), { conversationId: 'g_x', unread: 0, totalUnread: 0 }, 'zero is a count');
});

t.test('a missing or malformed header is no count', async (t) => {
  for (const bad of [undefined, '', 'g_x', 'g_x 1', 'g_x 1 2 3', 'g_x -1 2', 'g_x 1.5 2', 'g_x a 2', 'g_x 3 2', ' 1 2', 'g_x  2']) {
    t.equal(parseUnreadHeader(bad), undefined, JSON.stringify(bad));
  }
});
