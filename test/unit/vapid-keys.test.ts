import t from 'tap';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vapidKeysFromDataDir } from '../../lib/vapid-keys.js';

t.test('without configured keys a pair is made once in the data folder, private to its user, and kept across starts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-vapid-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const first = await vapidKeysFromDataDir(join(dir, 'data'), 'mailto:a@b.test');
  t.ok(first.created);
  t.match(first.keys.publicKey, /^[A-Za-z0-9_-]{87}$/);
  t.match(first.keys.privateKey, /^[A-Za-z0-9_-]{43}$/);
  t.equal((await stat(first.file)).mode & 0o777, 0o600);
  const again = await vapidKeysFromDataDir(join(dir, 'data'), 'mailto:a@b.test');
  t.notOk(again.created, 'read back, not made again (browsers bind subscriptions to the key)');
  t.same(again.keys, first.keys);
});
