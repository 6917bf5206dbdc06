import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startSystem } from '../helpers/system.js';
import { envFor, startRoleProcess } from '../helpers/processes.js';
import { currentSystem } from '../../gateway/uws-builds.js';

/**
 * Which uWebSockets.js build the gateway runs (gateway/uws-builds.ts), and its refusal of the slow
 * ws emulation unless PARLEY_ALLOW_UWS_FALLBACK=1. PARLEY_UWS_BUILDS=emulation forces the emulation.
 */
const cli = fileURLToPath(new URL('../../bin/parley.mjs', import.meta.url));

type UwsHealth = { native: boolean; build: string; tried: { build: string; error: string }[]; reason?: string };

async function uwsOf(wsUrl: string): Promise<UwsHealth> {
  const res = await fetch(wsUrl.replace('ws://', 'http://').replace(/\/ws$/, '/health'));
  return ((await res.json()) as { uws: UwsHealth }).uws;
}

/** `parley start` in a child process; resolves with its exit code and output once it exits. */
function parleyStart(env: Record<string, string>, onStdout?: (text: string, child: ReturnType<typeof spawn>) => void) {
  const child = spawn(process.execPath, [cli, 'start', '--role', 'gateway'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
    onStdout?.(stdout, child);
  });
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  return { child, exited };
}

t.test('on this machine /health says which native build is loaded, and why the better one is not', async (t) => {
  const sys = await startSystem(t, {}, ['gateway']);
  const uws = await uwsOf(sys.url);
  t.equal(uws.native, true, `native: ${uws.build}`);
  t.match(uws.build, /^(@btc-vision\/uwebsockets\.js|@trufflesuite\/uws-js-unofficial) \d+\.\d+\.\d+/);
  t.equal(uws.reason, undefined, 'no reason: it is not the emulation');
  const system = currentSystem();
  if (system.platform === 'linux' && system.glibc && Number(system.glibc.split('.')[1]) < 38 && system.nodeMajor === 20) {
    // This machine (glibc 2.36): btc-vision's binaries need glibc 2.38, so the trufflesuite one serves.
    t.match(uws.build, /^@trufflesuite\/uws-js-unofficial /);
    t.strictSame(uws.tried, [{ build: '@btc-vision/uwebsockets.js 20.57.0', error: `needs glibc 2.38 (this system: ${system.glibc})` }]);
  }
});

t.test('parley start refuses a gateway on the emulation without PARLEY_ALLOW_UWS_FALLBACK=1, before it starts anything', async (t) => {
  const sys = await startSystem(t, {}, []);
  const { exited } = parleyStart({ ...envFor(sys.config), PARLEY_UWS_BUILDS: 'emulation' });
  const { code, stderr, stdout } = await exited;
  t.not(code, 0, 'exits non-zero');
  t.equal(code, 1);
  t.match(stderr, /refusing to start the gateway on uWebSockets\.js's slow ws emulation/);
  t.match(stderr, /PARLEY_ALLOW_UWS_FALLBACK=1/, 'the error names the setting');
  t.notMatch(stdout, /Parley is running/, 'no banner');
});

t.test('a bad PARLEY_UWS_BUILDS fails start-up too', async (t) => {
  const sys = await startSystem(t, {}, []);
  const { code, stderr } = await parleyStart({ ...envFor(sys.config), PARLEY_UWS_BUILDS: 'fast' }).exited;
  t.equal(code, 1);
  t.match(stderr, /PARLEY_UWS_BUILDS must be/);
});

t.test('a role process forced onto the emulation exits before it is ready', async (t) => {
  const sys = await startSystem(t, {}, []);
  await t.rejects(startRoleProcess(t, 'gateway', sys.config, { PARLEY_UWS_BUILDS: 'emulation' }), /exited with 1 before it was ready/);
});

t.test('with PARLEY_ALLOW_UWS_FALLBACK=1 it starts on the emulation and /health says native false', async (t) => {
  const sys = await startSystem(t, {}, []);
  const gw = await startRoleProcess(t, 'gateway', sys.config, { PARLEY_UWS_BUILDS: 'emulation', PARLEY_ALLOW_UWS_FALLBACK: '1' });
  const uws = await uwsOf(gw.url);
  t.equal(uws.native, false);
  t.match(uws.build, /ws emulation$/);
  t.equal(uws.reason, 'PARLEY_UWS_BUILDS lists no native build');
  t.equal(await gw.kill('SIGTERM'), 0, 'stops cleanly on SIGTERM');
});

t.test("parley start's banner names the build", async (t) => {
  const sys = await startSystem(t, {}, []);
  const { child, exited } = parleyStart(envFor(sys.config), (out, child) => {
    if (/Stop: /.test(out) && child.exitCode === null) child.kill('SIGTERM');
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const { code, stdout } = await exited;
  t.equal(code, 0, 'stops cleanly on SIGTERM');
  t.match(stdout, /\n {2}uWS: {8}\S+ \S+ \(native\)/, 'the banner says which build, native');
});
