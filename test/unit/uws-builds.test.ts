import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBestUws, parseUwsBuilds, shortLoadError, UWS_BUILD_NAMES, type UwsLoader, type UwsSystem } from '../../gateway/uws-builds.js';
import { allowUwsFallback, UwsFallbackRefused } from '../../gateway/uws.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A Linux x64 box with Node 22 and glibc 2.36, as the packages' loaders would meet it. */
const node22: UwsSystem = { platform: 'linux', arch: 'x64', abi: '127', nodeMajor: 22, glibc: '2.36' };

/**
 * A fake node_modules: which packages exist, which binaries they ship, and what loading each file
 * does (a module, or the error dlopen would give).
 */
function fakeLoader(files: Record<string, unknown>, packages: Record<string, { dir: string; name: string; version: string }>): UwsLoader & { loaded: string[] } {
  const loaded: string[] = [];
  return {
    loaded,
    resolve: (specifier) => {
      const pkg = packages[specifier];
      if (!pkg) throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: 'MODULE_NOT_FOUND' });
      return join(pkg.dir, 'entry.js');
    },
    binaryExists: (file) => file in files,
    load: (file) => {
      loaded.push(file);
      const what = files[file];
      if (what instanceof Error) throw what;
      if (what === undefined) throw new Error(`Cannot find module '${file}'`);
      return what;
    },
  };
}

// installed() reads the package.json from disk: point the fakes at the real packages' folders.
const btcDir = dirname(fileURLToPath(import.meta.resolve('@btc-vision/uwebsockets.js')));
const truffleDir = resolve(dirname(fileURLToPath(import.meta.resolve('uWebSockets.js'))), '..');
const both = {
  '@btc-vision/uwebsockets.js': { dir: btcDir, name: '@btc-vision/uwebsockets.js', version: '20.57.0' },
  'uWebSockets.js': { dir: join(truffleDir, 'src'), name: '@trufflesuite/uws-js-unofficial', version: '20.30.0-unofficial.0' },
};
const glibcError = new Error(`/lib/x86_64-linux-gnu/libc.so.6: version \`GLIBC_2.38' not found (required by ${btcDir}/uws_linux_x64_127.node)`);
const emulation = { App: () => 'emulated' };
const native = { App: () => 'native' };

t.test('PARLEY_UWS_BUILDS: all three by default, best first; a list is checked', async (t) => {
  t.strictSame(parseUwsBuilds(undefined), ['btc-vision', 'trufflesuite', 'emulation']);
  t.strictSame(parseUwsBuilds(''), [...UWS_BUILD_NAMES]);
  t.strictSame(parseUwsBuilds('emulation'), ['emulation']);
  t.strictSame(parseUwsBuilds(' trufflesuite , emulation '), ['trufflesuite', 'emulation']);
  t.throws(() => parseUwsBuilds('uws'), /PARLEY_UWS_BUILDS must be .*btc-vision, trufflesuite, emulation/);
  t.throws(() => parseUwsBuilds('emulation,emulation'), /distinct/);
  t.throws(() => parseUwsBuilds('trufflesuite,'), /PARLEY_UWS_BUILDS/);
});

t.test('PARLEY_ALLOW_UWS_FALLBACK is 1 or 0', async (t) => {
  t.equal(allowUwsFallback({}), false);
  t.equal(allowUwsFallback({ PARLEY_ALLOW_UWS_FALLBACK: '0' }), false);
  t.equal(allowUwsFallback({ PARLEY_ALLOW_UWS_FALLBACK: '1' }), true);
  t.throws(() => allowUwsFallback({ PARLEY_ALLOW_UWS_FALLBACK: 'yes' }), /PARLEY_ALLOW_UWS_FALLBACK must be 1 or 0/);
});

t.test('load errors in a few words', async (t) => {
  t.equal(shortLoadError(glibcError, node22), 'needs glibc 2.38 (this system: 2.36)');
  t.equal(shortLoadError(glibcError, { ...node22, glibc: undefined }), 'needs glibc 2.38 (this system: no glibc)');
  t.equal(shortLoadError(new Error('\nfirst line\nsecond'), node22), 'first line');
  t.ok(shortLoadError(new Error('x'.repeat(500)), node22).length <= 201, 'long messages are cut');
});

t.test('Node 22 on glibc 2.36: btc-vision needs a newer glibc, trufflesuite has no binary, so the emulation', async (t) => {
  const loader = fakeLoader({ [join(btcDir, 'uws_linux_x64_127.node')]: glibcError, [join(truffleDir, 'dist', 'index.js')]: emulation }, both);
  const r = loadBestUws(parseUwsBuilds(undefined), node22, loader);
  t.equal(r.native, false);
  t.equal(r.uws, emulation);
  t.equal(r.build, '@trufflesuite/uws-js-unofficial 20.30.0-unofficial.0 ws emulation');
  t.strictSame(r.tried, [
    { build: '@btc-vision/uwebsockets.js 20.57.0', error: 'needs glibc 2.38 (this system: 2.36)' },
    { build: '@trufflesuite/uws-js-unofficial 20.30.0-unofficial.0', error: 'no binary for Node 22 on linux-x64' },
  ]);
  t.match(r.reason, /needs glibc 2\.38.*no binary for Node 22/);
  t.match(new UwsFallbackRefused(r).message, /PARLEY_ALLOW_UWS_FALLBACK=1/, 'the refusal names the setting');
});

t.test('Node 22 on glibc 2.41: btc-vision loads natively, nothing else is tried', async (t) => {
  const loader = fakeLoader({ [join(btcDir, 'uws_linux_x64_127.node')]: native }, both);
  const r = loadBestUws(parseUwsBuilds(undefined), { ...node22, glibc: '2.41' }, loader);
  t.equal(r.native, true);
  t.equal(r.uws, native);
  t.equal(r.build, '@btc-vision/uwebsockets.js 20.57.0');
  t.strictSame(r.tried, []);
  t.equal(r.reason, undefined);
  t.strictSame(loader.loaded, [join(btcDir, 'uws_linux_x64_127.node')]);
});

t.test('Node 20 without the optional package: "not installed", then trufflesuite natively', async (t) => {
  const loader = fakeLoader({ [join(truffleDir, 'binaries', 'uws_linux_x64_115.node')]: native }, { 'uWebSockets.js': both['uWebSockets.js'] });
  const r = loadBestUws(parseUwsBuilds(undefined), { ...node22, abi: '115', nodeMajor: 20 }, loader);
  t.equal(r.native, true);
  t.equal(r.build, '@trufflesuite/uws-js-unofficial 20.30.0-unofficial.0');
  t.strictSame(r.tried, [{ build: '@btc-vision/uwebsockets.js', error: 'not installed' }]);
});

t.test('Node 26: no binary anywhere; without the emulation in the list nothing loads', async (t) => {
  const loader = fakeLoader({}, both);
  const node26 = { ...node22, abi: '147', nodeMajor: 26, glibc: '2.41' };
  t.throws(() => loadBestUws(['btc-vision', 'trufflesuite'], node26, loader), /no uWebSockets\.js build could be loaded.*btc-vision\/uwebsockets\.js 20\.57\.0: no binary for Node 26 on linux-x64/);
});

t.test('emulation alone: the reason says the list asked for it', async (t) => {
  const loader = fakeLoader({ [join(truffleDir, 'dist', 'index.js')]: emulation }, both);
  const r = loadBestUws(['emulation'], node22, loader);
  t.equal(r.native, false);
  t.equal(r.reason, 'PARLEY_UWS_BUILDS lists no native build');
});

t.test('this machine: the real packages load as their own files say', async (t) => {
  const r = loadBestUws(parseUwsBuilds(undefined));
  t.equal(typeof r.uws.App, 'function', `${r.build} has App`);
  t.equal(typeof r.uws.us_socket_local_port, 'function');
  t.equal(typeof r.uws.us_listen_socket_close, 'function');
});

/** Every file of ours that loads uWS as a value must do so through gateway/uws.ts (types are fine). */
t.test("nothing but gateway/uws-builds.ts loads a uWS package", async (t) => {
  const walk = (dir: string): string[] =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  const files = ['app', 'gateway', 'cli', 'bench', 'lib'].flatMap(walk);
  const loads = files.filter((file) => {
    const text = readFileSync(join(root, file), 'utf8');
    return /(?:^|\n)\s*import\s+(?!type\b)[^;]*from\s+'(?:uWebSockets\.js|@btc-vision\/uwebsockets\.js)'|require\(\s*'(?:uWebSockets\.js|@btc-vision\/uwebsockets\.js)'|(?<!typeof\s)import\(\s*'(?:uWebSockets\.js|@btc-vision\/uwebsockets\.js)'\s*\)(?!\.)/.test(text);
  });
  t.strictSame(loads, [], 'value imports of uWS outside gateway/uws-builds.ts');
});
