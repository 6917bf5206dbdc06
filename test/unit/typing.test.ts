import t from 'tap';
import { FanoutBudget, TypingSessions, TypingShown } from '../../gateway/typing.js';

const T0 = 1_700_000_000_000;
const TIMEOUT = 5_000;

t.test('TypingSessions: the typing side', async (t) => {
  const sessions = () => new TypingSessions({ timeoutMs: TIMEOUT, maxConversations: 2 });

  t.test('the first start relays; renewals inside timeout/2 are quiet; the next one after it relays again', async (t) => {
    const s = sessions();
    t.equal(s.start('c1', 'alice', 'g1', T0), 'relay');
    t.equal(s.start('c1', 'alice', 'g1', T0 + 2_000), 'quiet', 'a renewal 2 s later costs nothing');
    t.equal(s.start('c1', 'alice', 'g1', T0 + 2_500), 'renew', 'timeout/2 after the last relay: relayed again');
    t.equal(s.start('c1', 'alice', 'g1', T0 + 4_000), 'quiet');
    t.equal(s.relayEveryMs, 2_500);
  });

  t.test('a start not renewed within the timeout ends; a renewal moves the deadline', async (t) => {
    const s = sessions();
    s.start('c1', 'alice', 'g1', T0);
    s.start('c1', 'alice', 'g1', T0 + 4_000);
    t.strictSame(s.expire(T0 + 8_999), [], 'renewed at 4 s: alive until 9 s');
    t.strictSame(s.expire(T0 + 9_000), [{ connectionId: 'c1', userId: 'alice', conversationId: 'g1' }], 'ended at 9 s');
    t.equal(s.isTyping('c1', 'g1'), false);
    t.equal(s.connections, 0, 'nothing kept for the connection');
    t.equal(s.start('c1', 'alice', 'g1', T0 + 9_100), 'relay', 'a start after the end is a transition again');
  });

  t.test('stop ends it once; a stop of nothing changes nothing', async (t) => {
    const s = sessions();
    t.equal(s.stop('c1', 'g1'), false);
    s.start('c1', 'alice', 'g1', T0);
    t.equal(s.stop('c1', 'g1'), true);
    t.equal(s.stop('c1', 'g1'), false);
    t.strictSame(s.expire(T0 + 60_000), [], 'a stopped typing does not expire later');
  });

  t.test('at most maxConversations at once per connection; others are independent', async (t) => {
    const s = sessions();
    t.equal(s.start('c1', 'alice', 'g1', T0), 'relay');
    t.equal(s.start('c1', 'alice', 'g2', T0), 'relay');
    t.equal(s.start('c1', 'alice', 'g3', T0), 'too_many');
    t.equal(s.isTyping('c1', 'g3'), false, 'the refused one is not kept');
    t.equal(s.start('c1', 'alice', 'g1', T0 + 3_000), 'renew', 'renewing one of the two is fine');
    t.equal(s.start('c2', 'alice', 'g3', T0), 'relay', 'another connection has its own cap');
    s.stop('c1', 'g2');
    t.equal(s.start('c1', 'alice', 'g3', T0), 'relay', 'room again after a stop');
  });

  t.test('close ends every typing of that connection alone', async (t) => {
    const s = sessions();
    s.start('c1', 'alice', 'g1', T0);
    s.start('c1', 'alice', 'g2', T0);
    s.start('c2', 'alice', 'g1', T0);
    t.strictSame(
      s.close('c1').map((e) => e.conversationId).sort(),
      ['g1', 'g2'],
    );
    t.strictSame(s.close('c1'), [], 'twice: nothing');
    t.equal(s.isTyping('c2', 'g1'), true, "the user's other device still types");
    t.strictSame(s.connectionIds(), ['c2']);
  });
});

t.test('FanoutBudget: recipients a connection may reach', async (t) => {
  t.test('a burst up to capacity, then refill per second', async (t) => {
    const b = new FanoutBudget(1_000, 2_000, T0);
    t.equal(b.take(1_998, T0), true, 'a start to 999 others with its stop');
    t.equal(b.take(10, T0), false, 'not 10 more at once');
    t.equal(b.retryAfterMs(10, T0), 8, '8 ms of refill');
    t.equal(b.take(10, T0 + 8), true);
    t.equal(b.take(2_000, T0 + 10_000), true, 'refills up to capacity, not beyond');
    t.equal(b.take(1, T0 + 10_000), false);
  });

  t.test('a refused take costs nothing; a clock going back adds nothing', async (t) => {
    const b = new FanoutBudget(10, 10, T0);
    t.equal(b.take(11, T0), false);
    t.equal(b.take(10, T0), true);
    t.equal(b.take(1, T0 - 5_000), false);
    t.ok(b.retryAfterMs(50, T0) <= 1_000, 'never longer than filling the bucket');
  });
});

t.test('TypingShown: the receiving side', async (t) => {
  const shown = () => new TypingShown<string>({ holdMs: 2 * TIMEOUT, maxEntries: 3 });

  t.test('a start is told once per connection; a renewal tells only connections that came since', async (t) => {
    const s = shown();
    t.strictSame(s.start('bob', 'g1', 'alice', ['b1'], T0), ['b1']);
    t.strictSame(s.start('bob', 'g1', 'alice', ['b1'], T0 + 2_500), [], 'a renewal: nothing new to say');
    t.strictSame(s.start('bob', 'g1', 'alice', ['b1', 'b2'], T0 + 5_000), ['b2'], 'b2 opened meanwhile: told now');
    t.strictSame(s.stop('bob', 'g1', 'alice').sort(), ['b1', 'b2'], 'the stop goes to every connection told');
    t.strictSame(s.stop('bob', 'g1', 'alice'), [], 'once');
    t.equal(s.entries, 0);
  });

  t.test('a stop of a start never heard tells nobody', async (t) => {
    const s = shown();
    t.strictSame(s.stop('bob', 'g1', 'alice'), []);
  });

  t.test("a typer not heard of for holdMs is ended (the typer's gateway died)", async (t) => {
    const s = shown();
    s.start('bob', 'g1', 'alice', ['b1'], T0);
    s.start('bob', 'g1', 'carol', ['b1'], T0);
    s.start('bob', 'g1', 'carol', ['b1'], T0 + 5_000);
    t.strictSame(s.expire(T0 + 9_999), []);
    t.strictSame(s.expire(T0 + 10_000), [{ userId: 'bob', conversationId: 'g1', typerId: 'alice', told: ['b1'] }], 'alice, silent for 10 s');
    t.strictSame(s.expire(T0 + 15_000).map((e) => e.typerId), ['carol'], 'carol 10 s after her renewal');
    t.equal(s.entries, 0);
  });

  t.test('bounded: past maxEntries new typers are not shown', async (t) => {
    const s = shown();
    for (const typer of ['a', 'b', 'c']) t.strictSame(s.start('bob', 'g1', typer, ['b1'], T0), ['b1']);
    t.strictSame(s.start('bob', 'g1', 'd', ['b1'], T0), [], 'the fourth is dropped');
    t.strictSame(s.start('bob', 'g1', 'a', ['b1', 'b2'], T0), ['b2'], 'those held are still renewed');
    s.stop('bob', 'g1', 'b');
    t.strictSame(s.start('bob', 'g1', 'd', ['b1'], T0), ['b1'], 'room again');
  });

  t.test('ids with the separator cannot collide: conversation ids have no space', async (t) => {
    const s = shown();
    s.start('bob', 'g1', 'alice', ['b1'], T0);
    t.strictSame(s.expire(T0 + 10_000)[0]!.conversationId, 'g1');
  });

  t.test('the hold is twice the timeout: longer than any gap between relays of a live typer', async (t) => {
    // A live typer's relays are at most timeout/2 (throttle) + timeout (the longest renewal gap) apart.
    const typing = new TypingSessions({ timeoutMs: TIMEOUT, maxConversations: 20 });
    const s = shown();
    let now = T0;
    let lastRelay = now;
    typing.start('c1', 'alice', 'g1', now);
    s.start('bob', 'g1', 'alice', ['b1'], now);
    // Renewals at the worst spacing a client may use: just under the timeout.
    for (let i = 0; i < 20; i++) {
      now += TIMEOUT - 1;
      t.strictSame(typing.expire(now), [], 'the typer keeps typing');
      const d = typing.start('c1', 'alice', 'g1', now);
      if (d === 'renew') {
        t.strictSame(s.expire(now), [], `relayed in time (gap ${now - lastRelay} ms)`);
        s.start('bob', 'g1', 'alice', ['b1'], now);
        lastRelay = now;
      }
    }
    t.ok(now - lastRelay < TIMEOUT, 'relays kept coming');
  });
});
