import t from 'tap';
import { errorCodes } from '../../lib/errors.js';
import { clientErrorCodes, isKnownErrorCode, isTemporaryCode, ParleyError, protocolErrorCodes, SendFailedError } from '../../sdk/src/errors.js';

t.test("the SDK's copy of the protocol's codes is the server's table, code for code", async (t) => {
  // The SDK cannot import lib/errors.ts (it is published alone): this catches the two drifting apart.
  const server = Object.fromEntries(Object.entries(errorCodes).map(([code, { temporary }]) => [code, temporary]));
  const sdk = Object.fromEntries(Object.entries(protocolErrorCodes).map(([code, { temporary }]) => [code, temporary]));
  t.strictSame(sdk, server);
});

t.test('client codes are not protocol codes', async (t) => {
  t.strictSame(Object.keys(clientErrorCodes).filter((code) => Object.hasOwn(protocolErrorCodes, code)), []);
});

t.test('isTemporaryCode: the table, then the server’s flag for codes the SDK does not know', async (t) => {
  t.strictSame(
    ['send_failed', 'overloaded', 'rate_limited', 'internal', 'unavailable', 'timeout'].map((c) => isTemporaryCode(c)),
    [true, true, true, true, true, true],
  );
  t.strictSame(['blocked', 'forbidden', 'validation_error', 'closed'].map((c) => isTemporaryCode(c, true)), [false, false, false, false], 'a known code keeps its meaning');
  t.equal(isTemporaryCode('from_the_future'), false, 'unknown: permanent');
  t.equal(isTemporaryCode('from_the_future', true), true, 'unknown, the server says temporary');
  t.equal(isKnownErrorCode('timeout'), true);
  t.equal(isKnownErrorCode('from_the_future'), false);
  t.equal(isKnownErrorCode('toString'), false, 'not fooled by Object.prototype');
});

t.test('ParleyError carries a stable code, temporary, retryAfterMs and cause', async (t) => {
  const cause = new Error('socket reset');
  const e = new ParleyError('rate_limited', 'slow down', { retryAfterMs: 1_200, cause });
  t.ok(e instanceof Error);
  t.strictSame({ name: e.name, code: e.code, message: e.message, temporary: e.temporary, retryAfterMs: e.retryAfterMs }, { name: 'ParleyError', code: 'rate_limited', message: 'slow down', temporary: true, retryAfterMs: 1_200 });
  t.equal(e.cause, cause);
  t.equal(new ParleyError('blocked', 'no').temporary, false);
  const s = new SendFailedError('t1', 3, 'overloaded', 'gave up');
  t.ok(s instanceof ParleyError);
  t.strictSame({ name: s.name, tempId: s.tempId, attempts: s.attempts, code: s.code }, { name: 'SendFailedError', tempId: 't1', attempts: 3, code: 'overloaded' });
});
