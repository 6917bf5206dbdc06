import t from 'tap';
import { ParleyError } from '../../lib/errors.js';
import { PresenceWatch } from '../../gateway/presence-watch.js';
import { presenceUsersParam } from '../../gateway/rest/presence-params.js';

t.test('PresenceWatch: one NATS subscription per watched user, opened by the first watcher, closed by the last', async (t) => {
  const w = new PresenceWatch(3);
  t.strictSame(w.subscribe('c1', ['u1', 'u2', 'u1']), { ok: true, added: ['u1', 'u2'], opened: ['u1', 'u2'] }, 'repeats in a frame count once');
  t.strictSame(w.subscribe('c2', ['u2', 'u3']), { ok: true, added: ['u2', 'u3'], opened: ['u3'] }, 'u2 is watched already: not opened again');
  t.strictSame(w.subscribe('c1', ['u1']), { ok: true, added: [], opened: [] }, 'subscribing again changes nothing');
  t.strictSame(w.watchers('u2').sort(), ['c1', 'c2']);
  t.equal(w.users, 3);
  t.strictSame(w.unsubscribe('c1', ['u2', 'nobody']), [], 'u2 still has c2; an id not held is a no-op');
  t.strictSame(w.unsubscribe('c2', ['u2']), ['u2'], 'the last watcher of u2: closed');
  t.strictSame(w.close('c1').sort(), ['u1']);
  t.strictSame(w.close('c2'), ['u3']);
  t.equal(w.users, 0);
  t.equal(w.connections, 0, 'nothing kept for connections that watch nobody');
  t.strictSame(w.close('c1'), [], 'closing twice: nothing');
});

t.test('PresenceWatch: the bound is per connection, and a frame over it changes nothing', async (t) => {
  const w = new PresenceWatch(3);
  t.ok(w.subscribe('c1', ['a', 'b']).ok);
  t.strictSame(w.subscribe('c1', ['c', 'd']), { ok: false, held: 2, wanted: 4 });
  t.equal(w.heldBy('c1'), 2, 'nothing added');
  t.strictSame(w.watchers('c'), []);
  t.ok(w.subscribe('c1', ['a', 'b', 'c']).ok, 'ids already held do not count twice');
  t.equal(w.heldBy('c1'), 3);
  t.ok(w.subscribe('c2', ['d', 'e', 'f']).ok, 'another connection has its own bound');
  w.unsubscribe('c1', ['a']);
  t.ok(w.subscribe('c1', ['d']).ok, 'room again after an unsubscribe');
});

t.test('presenceUsersParam: ids in order without repeats, bounded, or a validation_error', async (t) => {
  const q = (s: string) => presenceUsersParam(new URLSearchParams(s));
  t.strictSame(q('users=b,a,b,c'), ['b', 'a', 'c']);
  t.strictSame(q('users=a&users=b,a'), ['a', 'b'], 'several users parameters are one list');
  const ids = Array.from({ length: 100 }, (_, i) => `u${i}`);
  t.equal(q(`users=${ids.join(',')},u0`).length, 100, '100 distinct ids (repeats do not count)');
  const refused = (s: string, message: RegExp) => {
    try {
      q(s);
      t.fail(`${s}: accepted`);
    } catch (err) {
      t.ok(err instanceof ParleyError && err.code === 'validation_error', `${s}: validation_error`);
      t.match((err as Error).message, message);
    }
  };
  refused('', /users is required/);
  refused('users=', /users is required/);
  refused(`users=${ids.join(',')},u100`, /at most 100/);
  refused('users=a,,b', /each user id/);
  refused('users=a,b%20c', /each user id/);
  refused(`users=${'x'.repeat(129)}`, /each user id/);
  refused(`users=${'é'.repeat(500)}`, /…\)$/);
});
