import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTokenVerifier } from '../../gateway/auth.js';
import { defaultConfig, DEV_JWT_SECRET } from '../../lib/config.js';
import { startSystem } from '../helpers/system.js';

const bin = fileURLToPath(new URL('../../bin/parley.mjs', import.meta.url));
const cwd = fileURLToPath(new URL('../..', import.meta.url));

/** The environment without anything that would change which secret, port or NATS the CLI uses. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('PARLEY_')) delete env[name];
  return env;
}

type Ran = { code: number | null; stdout: string; stderr: string };

function parley(args: string[], timeoutMs = 30_000, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, env: { ...cleanEnv(), ...env }, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('parley token prints a JWT that verifies with the dev secret', async (t) => {
  const r = await parley(['token', '--sub', 'alice', '--name', 'Alice', '--ttl', '120']);
  t.equal(r.code, 0, 'exit code 0', { stderr: r.stderr });
  const token = r.stdout.trim();
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'one JWT, nothing else on stdout');
  t.match(r.stderr, /DEVELOPMENT secret/);
  const verifier = createTokenVerifier({ secret: DEV_JWT_SECRET, algorithms: ['HS256'], clockToleranceSec: 5 });
  const identity = await verifier.verify(token);
  t.equal(identity.userId, 'alice');
  t.equal(identity.name, 'Alice');
  t.ok(identity.expiresAt > Date.now() + 100_000 && identity.expiresAt <= Date.now() + 120_000, 'ttl 120 s');
  t.equal(identity.admin, undefined, 'no scope: not an administrator');
});

t.test('parley token --scope parley:admin prints an administrator\'s token', async (t) => {
  const r = await parley(['token', '--sub', 'ops', '--scope', 'openid parley:admin', '--ttl', '60']);
  t.equal(r.code, 0, 'exit code 0', { stderr: r.stderr });
  const verifier = createTokenVerifier({ secret: DEV_JWT_SECRET, algorithms: ['HS256'], clockToleranceSec: 5 });
  const identity = await verifier.verify(r.stdout.trim());
  t.equal(identity.userId, 'ops');
  t.equal(identity.admin, true);
  t.ok(identity.issuedAt && Math.abs(identity.issuedAt - Date.now()) < 5_000, 'with iat (revocations compare it)');
});

t.test('parley token without --sub is a usage error', async (t) => {
  const r = await parley(['token']);
  t.equal(r.code, 2);
  t.match(r.stderr, /--sub is required/);
});

t.test('unknown command and unknown flag exit 2 with a message', async (t) => {
  const nope = await parley(['nope']);
  t.equal(nope.code, 2);
  t.match(nope.stderr, /unknown command "nope"/);
  const flag = await parley(['demo', '--bogus']);
  t.equal(flag.code, 2);
  t.match(flag.stderr, /Unknown option '--bogus'/);
});

t.test('parley demo runs its own embedded Parley when nothing answers at the URL', async (t) => {
  // Port 1: nothing listens there, so the demo never touches a developer's running Parley.
  const r = await parley(['demo', '--url', 'ws://127.0.0.1:1/ws', '--messages', '50'], 60_000);
  t.equal(r.code, 0, 'exit code 0', { stdout: r.stdout, stderr: r.stderr });
  t.match(r.stdout, /Nothing answers at http:\/\/127\.0\.0\.1:1\/health: starting Parley in-process/);
  t.match(r.stdout, /\[bob\] got from Alice: hello bob \(seq 1\)/);
  t.match(r.stdout, /\[alice\] got from Bob: hi alice, loud and clear \(seq 2\)/);
  t.match(r.stdout, /messages {5}50 of 50 confirmed and delivered/);
  t.match(r.stdout, /send → message\.sent \(alice\) +p50 .* p99 .* max /);
  t.match(r.stdout, /send → message\.new {2}\(bob\) +p50 .* p99 .* max /);
  t.match(r.stdout, /lost 0 \(no message\.sent 0, no message\.new 0\), duplicated 0/);
  t.match(r.stdout, /OK: every message confirmed to alice and delivered to bob exactly once\./);
  t.match(r.stdout, /Stopped the in-process Parley and deleted its streams \(prefix demo[0-9a-f]{8}\)/);
});

t.test('parley demo whose tokens the server refuses says so at once, with the hint about the secret', async (t) => {
  const sys = await startSystem(t);
  const started = Date.now();
  const r = await parley(['demo', '--url', sys.url, '--messages', '5'], 60_000, { PARLEY_JWT_SECRET: `${sys.config.auth.secret}-not-the-servers` });
  t.equal(r.code, 1, 'exit code 1', { stdout: r.stdout, stderr: r.stderr });
  t.match(r.stderr, /parley demo: (alice|bob): .*unauthorized.*PARLEY_JWT_SECRET/, 'the refusal and the hint');
  t.ok(Date.now() - started < 20_000, 'no waiting out reconnects with a token that is refused');
});

t.test("parley demo against a running gateway paces itself under the frame rate that connection.success tells", async (t) => {
  // 40 frames/s, burst 200: the demo's default 1,000/s would be rate-limited, and closed with 4008.
  const sys = await startSystem(t, { limits: { ...defaultConfig().limits, framesPerSecond: 40 } });
  const r = await parley(['demo', '--url', sys.url, '--messages', '60'], 60_000, { PARLEY_JWT_SECRET: sys.config.auth.secret });
  t.equal(r.code, 0, 'exit code 0', { stdout: r.stdout, stderr: r.stderr });
  t.match(r.stdout, /Pacing at 36\/s: the server allows 40 frames\/s per connection/);
  t.match(r.stdout, /messages {5}60 of 60 confirmed and delivered/);
  t.notMatch(r.stdout, /rate-limited by the server/);
  t.match(r.stdout, /OK: every message confirmed to alice and delivered to bob exactly once\./);
});
