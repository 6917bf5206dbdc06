import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The uWebSockets.js builds the gateway can run on, best first, and why each one did or did not
 * load here. Both native builds are uWS.js v20 (the types come from 'uWebSockets.js', the
 * trufflesuite one): @btc-vision/uwebsockets.js 20.57 has binaries for Node 20, 22, 24 and 25 but
 * needs glibc ≥ 2.38 on Linux; @trufflesuite/uws-js-unofficial 20.30 has them for Node 16, 18 and
 * 20 on glibc ≥ 2.27; the `ws` emulation (shipped by the trufflesuite package) runs anywhere,
 * slowly. Each package's binary is required by path: the trufflesuite package's own entry point
 * would swap in the emulation silently, and we want to know which one we got.
 */
export type Uws = typeof import('uWebSockets.js');

export const UWS_BUILD_NAMES = ['btc-vision', 'trufflesuite', 'emulation'] as const;
export type UwsBuildName = (typeof UWS_BUILD_NAMES)[number];

/** One build that did not load, and why, in a few words ("needs glibc 2.38 (this system: 2.36)"). */
export type UwsTried = { build: string; error: string };

export type UwsRuntime = {
  uws: Uws;
  native: boolean;
  /** The package and version loaded, e.g. "@trufflesuite/uws-js-unofficial 20.30.0-unofficial.0". */
  build: string;
  /** The builds tried before it, best first. */
  tried: UwsTried[];
  /** Only on the emulation: why no native build runs. */
  reason?: string;
};

/** What decides whether a binary can load: the running Node and C library. */
export type UwsSystem = { platform: string; arch: string; abi: string; nodeMajor: number; glibc: string | undefined };

export function currentSystem(): UwsSystem {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return {
    platform: process.platform,
    arch: process.arch,
    abi: process.versions.modules,
    nodeMajor: Number(process.versions.node.split('.')[0]),
    glibc: header?.glibcVersionRuntime,
  };
}

type BuildSpec = {
  /** How to resolve the package (the trufflesuite one is installed under the alias 'uWebSockets.js'). */
  specifier: string;
  /** Its name when it is not installed. */
  packageName: string;
  /** Where the native binaries are in the package; absent for the emulation. */
  binaryDir?: string;
  /** The emulation's entry point in the package. */
  emulationFile?: string;
};

const specs: Record<UwsBuildName, BuildSpec> = {
  'btc-vision': { specifier: '@btc-vision/uwebsockets.js', packageName: '@btc-vision/uwebsockets.js', binaryDir: '.' },
  trufflesuite: { specifier: 'uWebSockets.js', packageName: '@trufflesuite/uws-js-unofficial', binaryDir: 'binaries' },
  emulation: { specifier: 'uWebSockets.js', packageName: '@trufflesuite/uws-js-unofficial', emulationFile: join('dist', 'index.js') },
};

/** PARLEY_UWS_BUILDS: the builds to try, in order (default: all, best first). */
export function parseUwsBuilds(raw: string | undefined): UwsBuildName[] {
  if (raw === undefined || raw.trim() === '') return [...UWS_BUILD_NAMES];
  const names = raw.split(',').map((s) => s.trim());
  const bad = names.filter((n) => !(UWS_BUILD_NAMES as readonly string[]).includes(n));
  if (bad.length > 0 || new Set(names).size !== names.length) {
    throw new Error(`PARLEY_UWS_BUILDS must be a comma-separated list of distinct builds among ${UWS_BUILD_NAMES.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return names as UwsBuildName[];
}

/** A package's folder and "name version", or undefined when it is not installed. */
type Installed = { dir: string; label: string };
type Resolver = (specifier: string) => string;

function installed(spec: BuildSpec, resolve: Resolver): Installed | undefined {
  let entry: string;
  try {
    entry = resolve(spec.specifier);
  } catch {
    return undefined;
  }
  // Up from the entry point to the package's own package.json (the btc-vision package does not
  // export './package.json', so it cannot be resolved directly).
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name) return { dir, label: `${pkg.name} ${pkg.version ?? ''}`.trim() };
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** A load error in a few words: the glibc a binary needs, or the first line of the message. */
export function shortLoadError(err: unknown, system: UwsSystem): string {
  const message = err instanceof Error ? err.message : String(err);
  const glibc = /GLIBC_(\d+\.\d+(?:\.\d+)?)' not found/.exec(message);
  if (glibc) return `needs glibc ${glibc[1]} (this system: ${system.glibc ?? 'no glibc'})`;
  const line = message.split('\n').find((l) => l.trim() !== '') ?? 'failed to load';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

export type UwsLoader = { resolve: Resolver; load: (file: string) => unknown; binaryExists: (file: string) => boolean };

const nodeRequire = createRequire(import.meta.url);
const defaultLoader: UwsLoader = { resolve: (s) => nodeRequire.resolve(s), load: (f) => nodeRequire(f), binaryExists: existsSync };

/** Tries `order` in turn and returns the first build that loads; throws when none does. */
export function loadBestUws(order: readonly UwsBuildName[], system: UwsSystem = currentSystem(), loader: UwsLoader = defaultLoader): UwsRuntime {
  const tried: UwsTried[] = [];
  for (const name of order) {
    const spec = specs[name];
    const pkg = installed(spec, loader.resolve);
    if (!pkg) {
      tried.push({ build: name === 'emulation' ? `${spec.packageName} ws emulation` : spec.packageName, error: 'not installed' });
      continue;
    }
    if (spec.emulationFile) {
      const build = `${pkg.label} ws emulation`;
      try {
        const uws = loader.load(join(pkg.dir, spec.emulationFile)) as Uws;
        const reason = order.some((n) => n !== 'emulation')
          ? tried.map((t) => `${t.build}: ${t.error}`).join('; ')
          : 'PARLEY_UWS_BUILDS lists no native build';
        return { uws, native: false, build, tried, reason };
      } catch (err) {
        tried.push({ build, error: shortLoadError(err, system) });
        continue;
      }
    }
    const binary = join(pkg.dir, spec.binaryDir!, `uws_${system.platform}_${system.arch}_${system.abi}.node`);
    if (!loader.binaryExists(binary)) {
      tried.push({ build: pkg.label, error: `no binary for Node ${system.nodeMajor} on ${system.platform}-${system.arch}` });
      continue;
    }
    try {
      return { uws: loader.load(binary) as Uws, native: true, build: pkg.label, tried };
    } catch (err) {
      tried.push({ build: pkg.label, error: shortLoadError(err, system) });
    }
  }
  throw new Error(`no uWebSockets.js build could be loaded (PARLEY_UWS_BUILDS=${order.join(',')}): ${tried.map((t) => `${t.build}: ${t.error}`).join('; ')}`);
}
