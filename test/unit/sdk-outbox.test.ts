import t from 'tap';
import { ParleyError, SendFailedError } from '../../sdk/src/errors.js';
import { Outbox, type OutboxOptions } from '../../sdk/src/outbox.js';
import { ManualClock } from '../helpers/manual-clock.js';

type Payload = { text: string };
type Sent = { tempId: string; message: { id: string } };

/**
 * An outbox on a fake wire: `wire.open` says whether a connection is up, `wire.sent` lists the
 * tempIds put on it in order. Retries pause exactly 100, 200, 400 … ms (random just below 1).
 */
function setup(options: Partial<OutboxOptions> = {}) {
  const clock = new ManualClock();
  const wire = { open: true, sent: [] as string[] };
  const outbox = new Outbox<Payload, Sent>(
    (tempId) => {
      if (!wire.open) return false;
      wire.sent.push(tempId);
      return true;
    },
    { clock, retry: { firstMs: 100, maxMs: 1_000, factor: 2, random: () => 0.999_999 }, answerTimeoutMs: 5_000, giveUpAfterMs: 60_000, maxAttempts: 4, ...options },
  );
  return { clock, wire, outbox };
}

const sent = (tempId: string, id = `m-${tempId}`): Sent => ({ tempId, message: { id } });

/** The outcome of a promise so far, without awaiting it (after the microtasks run). */
async function outcome<R>(promise: Promise<R>): Promise<{ state: 'pending' } | { state: 'resolved'; value: R } | { state: 'rejected'; error: unknown }> {
  let result: { state: 'pending' } | { state: 'resolved'; value: R } | { state: 'rejected'; error: unknown } = { state: 'pending' };
  promise.then(
    (value) => (result = { state: 'resolved', value }),
    (error) => (result = { state: 'rejected', error }),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return result;
}

t.test('a send goes out at once and resolves with its confirmation', async (t) => {
  const { clock, wire, outbox } = setup();
  const promise = outbox.add('t1', { text: 'hi' });
  t.strictSame(wire.sent, ['t1']);
  t.strictSame(outbox.pending(), [{ tempId: 't1', payload: { text: 'hi' }, state: 'in_flight', attempts: 1, addedAt: clock.now() }]);
  t.equal(outbox.confirm('t1', sent('t1')), true);
  t.strictSame(await promise, sent('t1'));
  t.equal(outbox.size, 0);
  t.equal(clock.timers, 0, 'no timer left behind');
});

for (const code of ['send_failed', 'overloaded', 'rate_limited', 'internal'] as const) {
  t.test(`${code} is retried after a back-off, with the same tempId`, async (t) => {
    const { clock, wire, outbox } = setup();
    const promise = outbox.add('t1', { text: 'hi' });
    t.equal(outbox.onError('t1', code, 'try again'), true);
    t.equal(outbox.pending()[0]!.state, 'retrying');
    clock.advance(99);
    t.strictSame(wire.sent, ['t1'], 'not before the pause');
    clock.advance(1);
    t.strictSame(wire.sent, ['t1', 't1'], 'again after 100 ms, same tempId');
    outbox.onError('t1', code, 'try again');
    clock.advance(199);
    t.equal(wire.sent.length, 2);
    clock.advance(1);
    t.strictSame(wire.sent, ['t1', 't1', 't1'], 'the pause doubles');
    outbox.confirm('t1', sent('t1'));
    t.strictSame(await promise, sent('t1'));
  });
}

t.test("rate_limited waits at least its retryAfterMs", async (t) => {
  const { clock, wire, outbox } = setup();
  void outbox.add('t1', { text: 'hi' });
  outbox.onError('t1', 'rate_limited', 'slow down', { retryAfterMs: 3_000 });
  clock.advance(2_999);
  t.equal(wire.sent.length, 1, 'the 100 ms back-off does not cut the server’s pause short');
  clock.advance(1);
  t.equal(wire.sent.length, 2);
});

t.test('gives up after maxAttempts with the last code and the number of attempts', async (t) => {
  const { clock, wire, outbox } = setup({ maxAttempts: 3 });
  const promise = outbox.add('t1', { text: 'hi' });
  outbox.onError('t1', 'send_failed', 'nats down');
  clock.advance(100);
  outbox.onError('t1', 'send_failed', 'nats down');
  clock.advance(200);
  outbox.onError('t1', 'overloaded', 'backlog');
  const error = await promise.catch((e: unknown) => e);
  t.ok(error instanceof SendFailedError && error instanceof ParleyError, 'a SendFailedError, a ParleyError');
  const e = error as SendFailedError;
  t.strictSame({ code: e.code, attempts: e.attempts, tempId: e.tempId, temporary: e.temporary }, { code: 'overloaded', attempts: 3, tempId: 't1', temporary: true });
  t.match(e.message, /gave up after 3 attempt\(s\): backlog/);
  t.strictSame(wire.sent, ['t1', 't1', 't1'], 'three sends, no fourth');
  clock.advance(60_000);
  t.equal(wire.sent.length, 3);
  t.equal(clock.timers, 0);
});

t.test('a send with no answer is sent again; never answered, it gives up with timeout', async (t) => {
  const { clock, wire, outbox } = setup({ maxAttempts: 2 });
  const promise = outbox.add('t1', { text: 'hi' });
  clock.advance(5_000);
  t.equal(outbox.pending()[0]!.state, 'retrying', 'no answer within answerTimeoutMs is a temporary failure');
  clock.advance(100);
  t.strictSame(wire.sent, ['t1', 't1']);
  clock.advance(5_000);
  const e = (await promise.catch((e: unknown) => e)) as SendFailedError;
  t.strictSame({ code: e.code, attempts: e.attempts }, { code: 'timeout', attempts: 2 });
});

t.test('gives up after giveUpAfterMs even with attempts left (here: never connected)', async (t) => {
  const { clock, wire, outbox } = setup({ giveUpAfterMs: 30_000 });
  wire.open = false;
  const promise = outbox.add('t1', { text: 'hi' });
  t.equal(outbox.pending()[0]!.state, 'waiting');
  clock.advance(29_999);
  t.equal((await outcome(promise)).state, 'pending');
  clock.advance(1);
  const e = (await promise.catch((e: unknown) => e)) as SendFailedError;
  t.strictSame({ code: e.code, attempts: e.attempts }, { code: 'timeout', attempts: 0 });
  t.match(e.message, /no connection to send it on/);
  t.equal(outbox.size, 0);
});

t.test('a permanent error ends the send at once, with its code', async (t) => {
  const { clock, wire, outbox } = setup();
  const promise = outbox.add('t1', { text: 'hi' });
  outbox.onError('t1', 'blocked', 'you are blocked');
  const e = (await promise.catch((e: unknown) => e)) as SendFailedError;
  t.strictSame({ code: e.code, attempts: e.attempts, temporary: e.temporary, message: e.message }, { code: 'blocked', attempts: 1, temporary: false, message: 'you are blocked' });
  clock.advance(60_000);
  t.strictSame(wire.sent, ['t1'], 'never sent again');
});

t.test('an unknown code is retried only when the server says it is temporary', async (t) => {
  const { clock, wire, outbox } = setup();
  const a = outbox.add('a', { text: '1' });
  const b = outbox.add('b', { text: '2' }).catch((e: unknown) => e);
  outbox.onError('a', 'brand_new_code', 'newer server', { temporary: true });
  outbox.onError('b', 'another_new_code', 'newer server');
  clock.advance(100);
  t.strictSame(wire.sent, ['a', 'b', 'a']);
  t.equal((await outcome(a)).state, 'pending');
  t.equal(((await b) as SendFailedError).code, 'another_new_code', 'an unknown code without temporary: true is permanent');
});

t.test('after a reconnect, what was not confirmed goes out again in the order of the sends', async (t) => {
  const { wire, outbox } = setup();
  wire.open = false;
  const promises = ['t1', 't2', 't3'].map((id) => outbox.add(id, { text: id }));
  t.strictSame(wire.sent, [], 'no connection: nothing on the wire');
  t.strictSame(outbox.pending().map((p) => [p.tempId, p.state, p.attempts]), [['t1', 'waiting', 0], ['t2', 'waiting', 0], ['t3', 'waiting', 0]]);
  wire.open = true;
  outbox.reconnected();
  t.strictSame(wire.sent, ['t1', 't2', 't3']);
  outbox.confirm('t2', sent('t2'));
  outbox.disconnected();
  t.strictSame(outbox.pending().map((p) => [p.tempId, p.state]), [['t1', 'waiting'], ['t3', 'waiting']], 'in flight on a dead connection: waiting again');
  outbox.reconnected();
  t.strictSame(wire.sent, ['t1', 't2', 't3', 't1', 't3'], 'the same tempIds again, t2 not');
  t.strictSame(outbox.pending().map((p) => p.attempts), [2, 2]);
  outbox.confirm('t1', sent('t1'));
  outbox.confirm('t3', sent('t3'));
  t.strictSame(await Promise.all(promises), [sent('t1'), sent('t2'), sent('t3')]);
});

t.test('a send backing off keeps its pause across a reconnect', async (t) => {
  const { clock, wire, outbox } = setup();
  void outbox.add('t1', { text: 'hi' });
  outbox.onError('t1', 'rate_limited', 'slow down', { retryAfterMs: 2_000 });
  outbox.disconnected();
  outbox.reconnected();
  t.strictSame(wire.sent, ['t1'], 'not at the reconnect: the rate limit is per user');
  clock.advance(2_000);
  t.strictSame(wire.sent, ['t1', 't1']);
});

t.test('no answer timeout runs while disconnected: the wait for a connection is not an attempt', async (t) => {
  const { clock, wire, outbox } = setup({ maxAttempts: 1 });
  const promise = outbox.add('t1', { text: 'hi' });
  outbox.disconnected();
  wire.open = false;
  clock.advance(20_000);
  t.equal((await outcome(promise)).state, 'pending', 'no timeout counted while offline');
  wire.open = true;
  outbox.reconnected();
  outbox.confirm('t1', sent('t1'));
  t.strictSame(await promise, sent('t1'));
});

t.test('a send re-sent twice resolves once, with the first confirmation', async (t) => {
  const { wire, outbox } = setup();
  let resolutions = 0;
  const promise = outbox.add('t1', { text: 'hi' }).then((r) => {
    resolutions++;
    return r;
  });
  outbox.disconnected();
  outbox.reconnected();
  outbox.disconnected();
  outbox.reconnected();
  t.strictSame(wire.sent, ['t1', 't1', 't1']);
  t.equal(outbox.confirm('t1', sent('t1', 'm-1')), true);
  // Every attempt is answered: the retries' message.sent come too (the original message each time).
  t.equal(outbox.confirm('t1', sent('t1', 'm-1')), false, 'the second confirmation is ignored');
  t.equal(outbox.onError('t1', 'send_failed', 'late'), false, 'so is a late error');
  t.strictSame(await promise, sent('t1', 'm-1'));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(resolutions, 1);
});

t.test('a confirmation or an error for an unknown tempId is ignored', async (t) => {
  const { clock, wire, outbox } = setup();
  const promise = outbox.add('t1', { text: 'hi' });
  t.equal(outbox.confirm('nope', sent('nope')), false);
  t.equal(outbox.onError('nope', 'blocked', 'x'), false);
  t.equal(outbox.size, 1);
  t.equal((await outcome(promise)).state, 'pending', 'the pending send is untouched');
  clock.advance(100_000);
  t.strictSame(wire.sent.filter((id) => id === 'nope'), [], 'nothing sent for it');
});

t.test('adding a tempId that is pending returns the same promise and sends nothing more', async (t) => {
  const { wire, outbox } = setup();
  const first = outbox.add('t1', { text: 'hi' });
  const again = outbox.add('t1', { text: 'other' });
  t.equal(again, first);
  t.strictSame(wire.sent, ['t1']);
  t.strictSame(outbox.pending()[0]!.payload, { text: 'hi' }, 'the first payload is kept, as the server keeps it');
});

t.test('a tempId given up can be added again (the server keeps it idempotent)', async (t) => {
  const { wire, outbox } = setup();
  const first = outbox.add('t1', { text: 'hi' });
  outbox.onError('t1', 'forbidden', 'no');
  await first.catch(() => undefined);
  const second = outbox.add('t1', { text: 'hi' });
  t.strictSame(wire.sent, ['t1', 't1']);
  outbox.confirm('t1', sent('t1'));
  t.strictSame(await second, sent('t1'));
});

t.test('a temporary error for an earlier attempt, while backing off, does not add a retry', async (t) => {
  const { clock, wire, outbox } = setup();
  void outbox.add('t1', { text: 'hi' });
  clock.advance(5_000); // the first attempt times out: retry in 100 ms
  outbox.onError('t1', 'send_failed', 'the first attempt, late');
  clock.advance(100);
  t.strictSame(wire.sent, ['t1', 't1'], 'one retry, not two');
  t.equal(outbox.pending()[0]!.attempts, 2);
});

t.test('a permanent error for an earlier attempt still ends the send', async (t) => {
  const { clock, outbox } = setup();
  const promise = outbox.add('t1', { text: 'hi' });
  clock.advance(5_000);
  outbox.onError('t1', 'blocked', 'blocked');
  t.equal(((await promise.catch((e: unknown) => e)) as SendFailedError).code, 'blocked');
  t.equal(clock.timers, 0);
});

t.test('close rejects every pending send with closed and stops every timer', async (t) => {
  const { clock, wire, outbox } = setup();
  const a = outbox.add('a', { text: '1' });
  const b = outbox.add('b', { text: '2' });
  outbox.onError('b', 'overloaded', 'busy');
  outbox.close();
  for (const p of [a, b]) {
    const e = (await p.catch((e: unknown) => e)) as SendFailedError;
    t.equal(e.code, 'closed');
  }
  t.equal(outbox.size, 0);
  t.equal(clock.timers, 0);
  clock.advance(100_000);
  t.strictSame(wire.sent, ['a', 'b']);
});

t.test('bad options fail at once', async (t) => {
  const transmit = () => true;
  t.throws(() => new Outbox(transmit, { maxAttempts: 0 }), RangeError);
  t.throws(() => new Outbox(transmit, { answerTimeoutMs: 0 }), RangeError);
  t.throws(() => new Outbox(transmit, { retry: { firstMs: 10, maxMs: 1 } }), RangeError);
  t.doesNotThrow(() => new Outbox(transmit, { giveUpAfterMs: Number.POSITIVE_INFINITY }), 'Infinity: never give up by time');
});
