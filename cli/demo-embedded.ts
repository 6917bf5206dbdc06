import { randomBytes } from 'node:crypto';
import { startRoles, type Running } from '../app/roles.js';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/log.js';
import { makeNames } from '../lib/names.js';
import { connectNats, deleteStreams, jetstreamManager } from '../lib/nats.js';
import { openDatabase } from '../lib/pg.js';
import { out } from './demo-output.js';
import { ensureNats, type EnsuredNats } from './embedded-nats.js';

/** Parley started in this process on a private prefix, for when nothing answers at the URL. */
export type Embedded = { url: string; stop(): Promise<void> };

export async function startEmbedded(base: Config, secret: string, log: Logger): Promise<Embedded> {
  const prefix = `demo${randomBytes(4).toString('hex')}`;
  const config: Config = {
    ...base,
    prefix,
    host: '127.0.0.1',
    port: 0,
    gatewayId: `gw-demo-${randomBytes(3).toString('hex')}`,
    auth: { ...base.auth, secret, jwksUrl: undefined, algorithms: ['HS256'] },
    // The demo measures the pipeline, not the per-connection frame limit of this private instance.
    limits: { ...base.limits, framesPerSecond: 1_000_000, frameBurst: 1_000_000 },
    // Nor the per-user ones: alice is a bot here, sending at the rate asked for.
    rateLimits: { ...base.rateLimits, user: { sendsPerSecond: 1_000_000, sendBurst: 1_000_000, framesPerSecond: 1_000_000, frameBurst: 1_000_000 } },
    // Its own read-model schema: sharing the user's would make the projector start theirs over.
    postgres: { ...base.postgres, schema: `demo_${prefix.slice(4)}` },
    // A terminal demo on a private port: no browser page to serve (nor an SDK to bundle for one).
    demo: { enabled: false },
  };
  let nats: EnsuredNats;
  try {
    nats = await ensureNats(config, log);
  } catch (err) {
    throw new Error(`cannot start Parley in-process: ${(err as Error).message}`);
  }
  let running: Running;
  try {
    running = await startRoles('all', config, log);
  } catch (err) {
    await nats.stop();
    throw err;
  }
  const url = running.gateway!.url;
  out(`Started Parley in-process: ${url}, NATS ${config.natsUrl.join(',')}${nats.started ? ' (nats-server started for the demo)' : ''}, private prefix ${prefix}.`);
  return {
    url,
    async stop() {
      await running.stop();
      const db = await openDatabase(config, log).catch(() => undefined);
      await db?.pool.query(`DROP SCHEMA IF EXISTS "${config.postgres.schema}" CASCADE`).catch(() => undefined);
      await db?.close();
      const nc = await connectNats(config, 'parley-demo-cleanup', log);
      try {
        await deleteStreams(await jetstreamManager(nc), makeNames(prefix));
      } finally {
        await nc.close();
      }
      await nats.stop();
      out(`Stopped the in-process Parley and deleted its streams (prefix ${prefix}).`);
    },
  };
}

/** Does anything answer HTTP at the gateway's /health? */
export async function healthAnswers(wsUrl: URL): Promise<{ answers: boolean; status?: number; healthUrl: string }> {
  const health = new URL(wsUrl.href);
  health.protocol = wsUrl.protocol === 'wss:' ? 'https:' : 'http:';
  health.pathname = '/health';
  health.search = '';
  try {
    const res = await fetch(health, { signal: AbortSignal.timeout(2_000) });
    await res.body?.cancel();
    return { answers: true, status: res.status, healthUrl: health.href };
  } catch {
    return { answers: false, healthUrl: health.href };
  }
}
