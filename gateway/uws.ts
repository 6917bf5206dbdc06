import { loadBestUws, parseUwsBuilds, type UwsRuntime } from './uws-builds.js';

/**
 * This process's uWebSockets.js: the best build that loads here (gateway/uws-builds.ts), loaded
 * once, on first use (only processes that serve a gateway load a binary). The whole gateway gets
 * uWS from here; types still come from 'uWebSockets.js'. PARLEY_UWS_BUILDS orders the builds to try
 * (tests force the emulation with `emulation`); the gateway refuses the emulation unless
 * PARLEY_ALLOW_UWS_FALLBACK=1, as it serves a fraction of the native server's load.
 */
export type { UwsRuntime } from './uws-builds.js';

type Env = Record<string, string | undefined>;

let loaded: UwsRuntime | undefined;

/** The build this process runs (the first call's environment decides it). */
export function uwsRuntime(env: Env = process.env): UwsRuntime {
  loaded ??= loadBestUws(parseUwsBuilds(env.PARLEY_UWS_BUILDS));
  return loaded;
}

/** The gateway would run on the `ws` emulation and PARLEY_ALLOW_UWS_FALLBACK=1 is not set. */
export class UwsFallbackRefused extends Error {
  readonly code = 'uws_fallback_refused';
  constructor(runtime: UwsRuntime) {
    super(
      `refusing to start the gateway on uWebSockets.js's slow ws emulation (${runtime.reason ?? 'no native build loaded'}). ` +
        `It serves a small fraction of the native server's load, and no WebSocket at all: it does not implement the upgrade handler the gateway checks tokens in (HTTP routes only). Run a Node and C library that a native build supports ` +
        `(README, "Supported platforms"), or set PARLEY_ALLOW_UWS_FALLBACK=1 to run on the emulation anyway (development only).`,
    );
    this.name = 'UwsFallbackRefused';
  }
}

export function allowUwsFallback(env: Env = process.env): boolean {
  const raw = env.PARLEY_ALLOW_UWS_FALLBACK;
  if (raw === undefined || raw === '' || raw === '0') return false;
  if (raw === '1') return true;
  throw new Error(`PARLEY_ALLOW_UWS_FALLBACK must be 1 or 0, got ${JSON.stringify(raw)}`);
}

/** The uWS a gateway may serve with: a native build, or the emulation when allowed; else throws UwsFallbackRefused. */
export function uwsForGateway(env: Env = process.env): UwsRuntime {
  const allowed = allowUwsFallback(env);
  const runtime = uwsRuntime(env);
  if (!runtime.native && !allowed) throw new UwsFallbackRefused(runtime);
  return runtime;
}

/** What /health and the start banner say about it. */
export function uwsReport(runtime: UwsRuntime): UwsReport {
  return { native: runtime.native, build: runtime.build, tried: runtime.tried, ...(runtime.reason ? { reason: runtime.reason } : {}) };
}

export type UwsReport = { native: boolean; build: string; tried: { build: string; error: string }[]; reason?: string };
