import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import webpush from 'web-push';
import type { Config } from './config.js';

export type VapidKeys = NonNullable<Config['push']['vapid']>;

const FILE = 'vapid.json';

/**
 * The VAPID key pair (RFC 8292) when the configuration has none: read from `<dataDir>/vapid.json`,
 * or made there once. Browsers bind a subscription to the public key it was made with, so the pair
 * must outlive restarts: a new one would silently orphan every subscription. `created` tells the
 * caller to say so loudly (in production the keys belong in the configuration).
 */
export async function vapidKeysFromDataDir(dataDir: string, subject: string): Promise<{ keys: VapidKeys; created: boolean; file: string }> {
  const file = join(dataDir, FILE);
  try {
    const stored = JSON.parse(await readFile(file, 'utf8')) as Partial<VapidKeys>;
    if (typeof stored.publicKey === 'string' && typeof stored.privateKey === 'string') {
      return { keys: { publicKey: stored.publicKey, privateKey: stored.privateKey, subject: stored.subject ?? subject }, created: false, file };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file}: ${(err as Error).message}`);
  }
  const { publicKey, privateKey } = webpush.generateVAPIDKeys();
  await mkdir(dataDir, { recursive: true });
  // Private key inside: readable by this user only; 'wx' never overwrites a pair another process just made.
  await writeFile(file, JSON.stringify({ publicKey, privateKey, subject }, null, 2), { mode: 0o600, flag: 'wx' });
  return { keys: { publicKey, privateKey, subject }, created: true, file };
}
