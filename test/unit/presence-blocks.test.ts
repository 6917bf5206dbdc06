/**
 * Blocks as the presence service follows them on the log (projections/presence/contacts.ts
 * RecentBlocks, presence-service.ts readBlockChange): a block hides presence both ways at once,
 * an unblock ends it, anything else on the subject is ignored and never throws.
 */
import t from 'tap';
import fc from 'fast-check';
import { RecentBlocks } from '../../projections/presence/contacts.js';
import { readBlockChange } from '../../projections/presence/presence-service.js';

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

t.test('RecentBlocks: both ways, until unblocked or kept long enough', async (t) => {
  const blocks = new RecentBlocks(1_000);
  const contacts = [{ userId: 'bob' }, { userId: 'carol' }];
  t.strictSame(blocks.filter('alice', contacts, 0), contacts, 'nothing blocked: the list as it is');
  blocks.blocked('bob', 'alice', 0);
  t.ok(blocks.between('alice', 'bob', 10), 'the blocked side');
  t.ok(blocks.between('bob', 'alice', 10), 'the blocking side');
  t.strictSame(blocks.filter('alice', contacts, 10), [{ userId: 'carol' }], "bob leaves alice's contacts");
  t.strictSame(blocks.filter('bob', [{ userId: 'alice' }], 10), [], "and alice bob's");
  t.notOk(blocks.between('alice', 'bob', 1_000), 'forgotten once the read models surely have it');
  blocks.blocked('alice', 'carol', 2_000);
  blocks.unblocked('carol', 'alice');
  t.notOk(blocks.between('alice', 'carol', 2_001), 'an unblock ends it, whoever is named first');
});

t.test('readBlockChange: blocks and unblocks off the log, nothing else', async (t) => {
  const event = { type: 'UserBlocked', v: 1, id: 'e_1', userId: 'bob', actor: { id: 'bob' }, at: '2026-12-06T00:00:00.000Z', commandId: 'c1', data: { blockedUserId: 'alice' } };
  t.strictSame(readBlockChange(bytes(event)), { userId: 'bob', otherId: 'alice', blocked: true });
  t.strictSame(readBlockChange(bytes({ ...event, type: 'UserUnblocked' })), { userId: 'bob', otherId: 'alice', blocked: false });
  t.equal(readBlockChange(bytes({ ...event, type: 'MessageSent' })), undefined, 'other events');
  t.equal(readBlockChange(bytes({ ...event, data: {} })), undefined, 'no one blocked');
  t.equal(readBlockChange(bytes(null)), undefined, 'null');
  t.equal(readBlockChange(new Uint8Array([0xff, 0x00])), undefined, 'not JSON');
});

t.test('readBlockChange never throws, and names two strings when it names anything', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.jsonValue().map(bytes), fc.record({ type: fc.constantFrom('UserBlocked', 'UserUnblocked'), userId: fc.anything(), data: fc.anything() }).map(bytes)), (data) => {
      const change = readBlockChange(data);
      return change === undefined || (typeof change.userId === 'string' && typeof change.otherId === 'string');
    }),
    { numRuns: 2_000 },
  );
  t.pass('2,000 inputs');
});
