/**
 * What a load run measures: the system it starts (the default), a running gateway (--url), or the
 * stand-in gateway (--fake-gateway, which measures the generators); and the check that the gateway
 * runs uWebSockets.js's native server, as a slow ws fallback would measure the wrong thing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { makeNames } from '../../lib/names.js';
import { readLeaseHolders } from '../../lib/leases.js';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEV_JWT_SECRET, defaultConfig } from '../../lib/config.js';
import { probeGateway, type GatewayHealth } from '../lib/gateway-probe.js';
import { rel } from '../lib/results.js';
import { SystemUnderTest } from '../lib/system.js';
import type { Options } from './options.js';
import type { WorkerInit } from './protocol.js';
import type { LoadResult } from './result.js';

const FAKE_GATEWAY = fileURLToPath(new URL('../lib/fake-gateway.ts', import.meta.url));

const out = (line = '') => process.stdout.write(`${line}\n`);
const err = (line = '') => process.stderr.write(`${line}\n`);

export type Target = { url: string; health: Partial<GatewayHealth> | undefined; signing: WorkerInit['signing'] };

/** What a failed run must still stop: filled in as things start. */
export type Started = { system?: SystemUnderTest; fake?: ChildProcess };

export async function startTarget(o: Options, id: string, profDir: string | undefined, started: Started): Promise<Target | 'failed'> {
  if (o.fakeGateway) return startFakeGateway(o, started);
  if (o.url) return runningGateway(o.url);
  return startSystem(o, id, profDir, started);
}

async function startFakeGateway(o: Options, started: Started): Promise<Target> {
  const fake = spawn(process.execPath, ['--import', 'tsx', FAKE_GATEWAY, '0', o.fakeFrames], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  started.fake = fake;
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('the fake gateway did not start within 20 s')), 20_000);
    fake.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const m = /ready (\d+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    fake.once('exit', (code) => reject(new Error(`the fake gateway exited with ${code}`)));
  });
  const url = `ws://127.0.0.1:${port}/ws`;
  const health = (await probeGateway(url))?.health;
  out(`Target: the FAKE gateway at ${url} (pid ${fake.pid}, ${o.fakeFrames} frames): this run measures the generators, not Parley.`);
  return { url, health, signing: { secret: 'fake-gateway-does-not-verify-tokens' } };
}

async function runningGateway(url: string): Promise<Target | 'failed'> {
  const probe = await probeGateway(url);
  if (!probe) {
    err(`bench load: nothing answers at ${url.replace(/^ws/, 'http').replace(/\/ws$/, '/health')}`);
    return 'failed';
  }
  const secret = process.env.PARLEY_JWT_SECRET || DEV_JWT_SECRET;
  const signing = {
    secret,
    ...(process.env.PARLEY_JWT_ISSUER ? { issuer: process.env.PARLEY_JWT_ISSUER } : {}),
    ...(process.env.PARLEY_JWT_AUDIENCE ? { audience: process.env.PARLEY_JWT_AUDIENCE } : {}),
  };
  out(`Target: the running gateway at ${url} (its own frame limits apply: rate_limited rejections are counted).`);
  return { url, health: probe.health, signing };
}

async function startSystem(o: Options, id: string, profDir: string | undefined, started: Started): Promise<Target> {
  const layout = {
    separate: `${o.engines > 1 ? `${o.engines} engines` : 'engine'}, ${o.projectors > 1 ? `${o.projectors} projectors` : 'projector'}, gateway as separate processes`,
    two: 'engine and projectors in one process, gateway in another',
    one: 'engine, projector and gateway in one process',
  }[o.processes];
  out(`Starting the system under test (${layout}; NATS ${o.natsUrl}) …`);
  const logFile = `${o.outDir}/${id}.log`;
  mkdirSync(o.outDir, { recursive: true });
  const system = await SystemUnderTest.create({
    natsUrl: o.natsUrl,
    // the bench measures the pipeline, not the per-connection frame limit
    raiseFrameLimits: true,
    env: o.env,
    logFile,
    ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
    ...(profDir ? { cpuProfDir: profDir } : {}),
  });
  started.system = system;
  out(`  read models: ${system.databaseDescription}`);
  const extraEngines: 'engine'[] = Array.from({ length: o.engines - 1 }, () => 'engine');
  const extraProjectors: 'projector'[] = Array.from({ length: o.projectors - 1 }, () => 'projector');
  const health = await system.startRoles(
    o.processes === 'one' ? ['all'] : o.processes === 'two' ? ['backend', 'gateway'] : ['engine', 'projector', 'gateway', ...extraEngines, ...extraProjectors],
  );
  // Several engines (projectors) share the partitions by leases: measure once they have spread (one partition moves a round).
  const names = makeNames(system.prefix);
  if (o.engines > 1) {
    const held = await leasesSpread(o.natsUrl, names.buckets.engineLeases, o.engines, Number(o.env.PARLEY_PARTITIONS ?? defaultConfig().partitions));
    out(`  engines: partitions held ${held.join(' / ')}`);
  }
  if (o.projectors > 1) out(`  projectors: delivery partitions held ${(await leasesSpread(o.natsUrl, names.buckets.deliveryLeases, o.projectors, o.projectors)).join(' / ')}`);
  const signing = { secret: system.secret, ...(o.env.PARLEY_JWT_ISSUER ? { issuer: o.env.PARLEY_JWT_ISSUER } : {}), ...(o.env.PARLEY_JWT_AUDIENCE ? { audience: o.env.PARLEY_JWT_AUDIENCE } : {}) };
  out(`  ${system.processes.map((p) => `${p.role} pid ${p.pid}`).join(', ')}; gateway ${system.url}; prefix ${system.prefix}; log ${rel(logFile)}`);
  return { url: system.url, health, signing };
}

/** Wait (at most a minute) until `holders` processes each hold a share of the partitions in the lease `bucket`; how many each holds. */
async function leasesSpread(natsUrl: string, bucket: string, holders: number, partitions: number): Promise<number[]> {
  const nc = await connect({ servers: natsUrl.split(',') });
  try {
    const kv = await new Kvm(nc).open(bucket);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const held = new Map<string, number>();
      for (const h of await readLeaseHolders(kv, partitions, Number.POSITIVE_INFINITY)) if (h) held.set(h.owner, (held.get(h.owner) ?? 0) + 1);
      const counts = [...held.values()].sort((a, b) => b - a);
      const all = counts.reduce((a, n) => a + n, 0) === partitions;
      if ((all && counts.length === holders && counts[0]! - counts[counts.length - 1]! <= 1) || Date.now() > deadline) return counts;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await nc.close();
  }
}

/** Which uWebSockets.js runtime the gateway says it runs; 'refused' for the fallback without --allow-fallback. */
export function checkRuntime(o: Options, health: Partial<GatewayHealth> | undefined): LoadResult['environment']['uws'] | 'refused' {
  const native = typeof health?.uws?.native === 'boolean' ? health.uws.native : 'unknown';
  const uws = { native, ...(health?.uws?.reason ? { reason: health.uws.reason } : {}) } as LoadResult['environment']['uws'];
  if (native !== true) {
    const why = native === 'unknown' ? 'the gateway does not say which uWebSockets.js runtime it uses' : `the gateway runs uWebSockets.js's SLOW ws FALLBACK (${uws.reason ?? 'no reason given'})`;
    if (!o.allowFallback) {
      err(`bench load: refusing to measure: ${why}. Fix the native binary, or pass --allow-fallback to measure it anyway.`);
      return 'refused';
    }
    err(`WARNING: ${why}; measuring it anyway (--allow-fallback). These figures are NOT the native server's.`);
  } else out(`  uWebSockets.js: native`);
  return uws;
}
