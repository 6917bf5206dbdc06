import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSystem } from '../helpers/system.js';
import { defaultConfig } from '../../lib/config.js';

t.test('with no DATABASE_URL (the embedded PGlite default) the gateway serves history over REST', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-pglite-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const sys = await startSystem(t, { dataDir, postgres: { ...defaultConfig().postgres, url: undefined } });
  t.equal(sys.running[0]!.db?.embedded, true, 'the embedded database is in use');
  const alice = await sys.connect('alice');
  for (let i = 1; i <= 3; i++) alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: `p${i}`, content: `pglite ${i}` } });
  const conversationId = (await alice.collect('message.sent', 3))[0]!.payload.message.conversationId;
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const token = await sys.token('bob');
  const deadline = Date.now() + 15_000;
  let body: { messages: { content: string }[] } = { messages: [] };
  while (body.messages.length < 3 && Date.now() < deadline) {
    const res = await fetch(`${base}/v1/conversations/${conversationId}/messages`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status === 200) body = await res.json();
    await new Promise((r) => setTimeout(r, 100));
  }
  t.same(body.messages.map((m) => m.content), ['pglite 1', 'pglite 2', 'pglite 3']);
});
