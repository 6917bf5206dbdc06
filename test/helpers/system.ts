import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { defaultConfig, type Config } from '../../lib/config.js';
import { createLogger } from '../../lib/log.js';
import { makeNames } from '../../lib/names.js';
import { connectNats, deleteStreams, jetstreamManager } from '../../lib/nats.js';
import { startRoles, type Role, type Running } from '../../app/roles.js';
import { signDevToken } from '../../lib/dev-token.js';
import { TestClient, type ClientOptions } from './client.js';
import { dropSchemas, testPostgres } from './pg.js';

export const testLog = createLogger({ level: process.env.PARLEY_TEST_LOG ?? 'silent' });

/** A configuration of its own: a random prefix (own streams and subjects), port 0, own secret. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  const base = defaultConfig();
  const secret = randomBytes(16).toString('hex');
  return {
    ...base,
    prefix: `t${randomBytes(5).toString('hex')}`,
    port: 0,
    partitions: 4,
    gatewayId: `gw-${randomBytes(3).toString('hex')}`,
    auth: { ...base.auth, secret },
    // Leases of 2 s: a test that kills an engine sees its partitions move within seconds.
    engine: { ...base.engine, ackWaitMs: 2_000, leaseMs: 2_000 },
    // Unread counts stored within 50 ms rather than a second: tests read them soon after a send.
    delivery: { ...base.delivery, ackWaitMs: 2_000, unreadFlushMs: 50 },
    // Tests send like bots and connect many sockets from 127.0.0.1 at once: the abuse limits are
    // raised out of the way; the tests of those limits (abuse-*.test.ts) set their own.
    rateLimits: {
      user: { sendsPerSecond: 1_000_000, sendBurst: 1_000_000, framesPerSecond: 1_000_000, frameBurst: 1_000_000 },
      address: { connectsPerSecond: 1_000_000, connectBurst: 1_000_000, maxUnauthenticated: 1_000_000 },
      trustProxyHops: 0,
    },
    // Push is off unless a test turns it on (test/e2e/push*.test.ts): one projector less per system.
    push: { ...base.push, enabled: false },
    // Read models on the test Postgres, in a schema of their own (dropped by startSystem's teardown).
    postgres: testPostgres(),
    // Roles without a gateway serve /metrics, /health, /ready on a free port, never the fixed default.
    metrics: { port: 0, host: '127.0.0.1' },
    ...overrides,
  };
}

export type TestSystem = {
  config: Config;
  running: Running[];
  url: string;
  token(sub: string, claims?: { name?: string; picture?: string }, ttlSec?: number): Promise<string>;
  connect(sub: string, options?: ClientOptions & { name?: string; picture?: string }): Promise<TestClient>;
  start(role: Role, overrides?: Partial<Config>): Promise<Running>;
};

/**
 * Start real processes' components (in this process) against the shared NATS server, isolated by
 * prefix. Everything is stopped and the streams deleted when the test ends (`t` may be anything
 * that runs teardowns: test/fuzz/run.ts starts one outside tap).
 */
export async function startSystem(t: Pick<Test, 'teardown'>, overrides: Partial<Config> = {}, roles: Role[] = ['all']): Promise<TestSystem> {
  const config = testConfig(overrides);
  const running: Running[] = [];
  const clients: TestClient[] = [];
  t.teardown(async () => {
    for (const c of clients) c.terminate();
    for (const r of running) await r.stop();
    const nc = await connectNats(config, 'test-cleanup', testLog);
    await deleteStreams(await jetstreamManager(nc), makeNames(config.prefix));
    await nc.close();
    await dropSchemas(config.postgres.schema, config.postgres.url);
  });
  const start = async (role: Role, more: Partial<Config> = {}) => {
    const r = await startRoles(role, { ...config, ...more }, testLog);
    running.push(r);
    return r;
  };
  for (const role of roles) await start(role);
  const gateway = running.find((r) => r.gateway)?.gateway;
  const system: TestSystem = {
    config,
    running,
    url: gateway?.url ?? '',
    token: (sub, claims = {}, ttlSec = 300) => signDevToken({ secret: config.auth.secret! }, { sub, ...claims }, ttlSec),
    async connect(sub, options = {}) {
      const token = await system.token(sub, { ...(options.name ? { name: options.name } : {}), ...(options.picture ? { picture: options.picture } : {}) });
      const client = await TestClient.open(options.url ?? system.url, { auth: 'header', token, ...options });
      clients.push(client);
      if (options.expectSuccess !== false) await client.next('connection.success');
      return client;
    },
    start,
  };
  return system;
}
