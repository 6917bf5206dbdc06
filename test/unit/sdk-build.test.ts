import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

/** The SDK builds as a package (ESM + .d.ts, `npm run build:sdk`) and the build is importable on its own. */
t.test('sdk builds to ESM with declarations, and the build imports without the repository', async (t) => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const out = await mkdtemp(join(tmpdir(), 'parley-sdk-build-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', join(root, 'sdk', 'tsconfig.build.json'), '--outDir', out], { cwd: root });
  const files = await readdir(out);
  t.ok(files.includes('index.js') && files.includes('index.d.ts') && files.includes('client.d.ts'), 'index.js, index.d.ts, client.d.ts');
  const sdk = await import(pathToFileURL(join(out, 'index.js')).href);
  t.equal(typeof sdk.ParleyClient, 'function', 'ParleyClient');
  t.equal(typeof sdk.msgpackCodec, 'function', 'msgpackCodec');
  t.equal(sdk.jsonCodec.subprotocol, 'parley.v1.json');
  if (!('WebSocket' in globalThis)) {
    t.throws(() => new sdk.ParleyClient({ url: 'ws://127.0.0.1:1/ws', token: 'x' }), /no WebSocket here/, 'Node 20 has no global WebSocket: the error says what to pass');
  }
});
