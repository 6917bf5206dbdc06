import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../lib/log.js';

/**
 * The browser demo's files, read once when the gateway starts and served from memory: the page's
 * own files from demo/ (a fixed list: a name not on it is never looked up on disk, so no path can
 * reach another file), and the SDK (sdk/src/index.ts) bundled by esbuild into one browser ES
 * module, parley-client.js, that the page imports.
 */
export type DemoAsset = { body: Buffer; contentType: string };
export type DemoAssets = ReadonlyMap<string, DemoAsset>;

/** The page's files in demo/, with their content types. `index.html` is also what /demo itself answers. */
export const DEMO_FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'pane.js': 'text/javascript; charset=utf-8',
  'chat-store.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/** The SDK bundle's name under /demo/. */
export const CLIENT_BUNDLE = 'parley-client.js';

const DEMO_DIR = new URL('../demo/', import.meta.url);
const SDK_ENTRY = fileURLToPath(new URL('../sdk/src/index.ts', import.meta.url));

export async function loadDemoAssets(log: Logger): Promise<DemoAssets> {
  const assets = new Map<string, DemoAsset>();
  for (const [name, contentType] of Object.entries(DEMO_FILES)) {
    assets.set(name, { body: await readFile(new URL(name, DEMO_DIR)), contentType });
  }
  assets.set(CLIENT_BUNDLE, { body: await bundleClient(log), contentType: 'text/javascript; charset=utf-8' });
  return assets;
}

/**
 * The SDK as one ES module for browsers, built in memory. A build that fails (the SDK mid-edit)
 * does not stop the gateway: the demo is a convenience, and the module served instead throws
 * at import, so the page says it is broken rather than half-working; the details go to the log,
 * not to whoever loads the page.
 */
export async function bundleClient(log: Logger, entry = SDK_ENTRY): Promise<Buffer> {
  // Loaded only when the demo is on: a gateway without it never pays for esbuild.
  const esbuild = await import('esbuild');
  try {
    const result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      logLevel: 'silent',
      legalComments: 'inline',
    });
    const file = result.outputFiles[0];
    if (!file) throw new Error('esbuild produced no output');
    return Buffer.from(file.contents);
  } catch (err) {
    log.error({ err, entry }, 'the SDK could not be bundled for the demo: /demo/parley-client.js throws at import');
    return Buffer.from("throw new Error('parley-client.js: the SDK could not be bundled on this server (see its log)');\n");
  }
}
