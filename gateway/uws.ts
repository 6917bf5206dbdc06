import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * uWebSockets.js comes from @trufflesuite/uws-js-unofficial, which quietly swaps in a slow `ws`
 * emulation when its native binary does not load. We load the binary ourselves first so that we
 * know which one we got; /health reports it and benchmarks refuse to run on the fallback.
 */
const require = createRequire(import.meta.url);

type Uws = typeof import('uWebSockets.js');

export type UwsRuntime = { uws: Uws; native: boolean; binary: string; reason?: string };

function load(): UwsRuntime {
  const pkgDir = dirname(require.resolve('uWebSockets.js/package.json'));
  const binary = join(pkgDir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  if (process.env.UWS_USE_FALLBACK && /^(1|true)$/i.test(process.env.UWS_USE_FALLBACK)) {
    return { uws: require('uWebSockets.js') as Uws, native: false, binary, reason: 'UWS_USE_FALLBACK is set' };
  }
  try {
    return { uws: require(binary) as Uws, native: true, binary };
  } catch (err) {
    const reason = `native binary did not load: ${(err as Error).message.split('\n')[0]}`;
    return { uws: require('uWebSockets.js') as Uws, native: false, binary, reason };
  }
}

export const uwsRuntime: UwsRuntime = load();
export const uWS = uwsRuntime.uws;
