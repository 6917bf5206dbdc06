import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import type { Config } from '../../lib/config.js';
import type { Role } from '../../app/roles.js';

const runner = fileURLToPath(new URL('./run-role.ts', import.meta.url));

/** The PARLEY_* environment that reproduces `config` in another process. */
export function envFor(config: Config): Record<string, string> {
  return {
    PARLEY_NATS_URL: config.natsUrl.join(','),
    PARLEY_PREFIX: config.prefix,
    PARLEY_PARTITIONS: String(config.partitions),
    PARLEY_REPLICAS: String(config.replicas),
    PARLEY_JWT_SECRET: config.auth.secret!,
    PARLEY_ENGINE_ACK_WAIT_MS: String(config.engine.ackWaitMs),
    PARLEY_LEASE_MS: String(config.engine.leaseMs),
    PARLEY_DELIVERY_ACK_WAIT_MS: String(config.delivery.ackWaitMs),
    PARLEY_UNREAD_FLUSH_MS: String(config.delivery.unreadFlushMs),
    PARLEY_DELIVERY_PARTITIONS: String(config.delivery.partitions),
    PARLEY_PRESENCE_HEARTBEAT_MS: String(config.presence.heartbeatMs),
    PARLEY_PRESENCE_LEASE_MS: String(config.presence.leaseMs),
    PARLEY_PRESENCE_GRACE_MS: String(config.presence.graceMs),
    PARLEY_PRESENCE_CONTACTS_CACHE_MS: String(config.presence.contactsCacheMs),
    PARLEY_PRESENCE_MAX_SUBSCRIPTIONS: String(config.presence.maxSubscriptions),
    PARLEY_USER_SENDS_PER_SECOND: String(config.rateLimits.user.sendsPerSecond),
    PARLEY_USER_SEND_BURST: String(config.rateLimits.user.sendBurst),
    PARLEY_USER_FRAMES_PER_SECOND: String(config.rateLimits.user.framesPerSecond),
    PARLEY_USER_FRAME_BURST: String(config.rateLimits.user.frameBurst),
    PARLEY_ADDRESS_CONNECTS_PER_SECOND: String(config.rateLimits.address.connectsPerSecond),
    PARLEY_ADDRESS_CONNECT_BURST: String(config.rateLimits.address.connectBurst),
    PARLEY_ADDRESS_MAX_UNAUTHENTICATED: String(config.rateLimits.address.maxUnauthenticated),
    PARLEY_TRUST_PROXY: String(config.rateLimits.trustProxyHops),
    PARLEY_TYPING_TIMEOUT_MS: String(config.typing.timeoutMs),
    PARLEY_TYPING_MAX_CONVERSATIONS: String(config.typing.maxConversations),
    PARLEY_TYPING_FANOUT_PER_SECOND: String(config.typing.fanoutPerSecond),
    PARLEY_PUSH: config.push.enabled ? '1' : '0',
    PARLEY_HOST: config.host,
    PARLEY_PORT: '0',
    PARLEY_LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'warn',
    // The read models: the same database and schema as the test's own components.
    ...(config.postgres.url ? { DATABASE_URL: config.postgres.url } : {}),
    PARLEY_PG_SCHEMA: config.postgres.schema,
    PARLEY_DATA_DIR: config.dataDir,
    // Roles without a gateway: their ops server on a free port (RoleProcess.opsUrl), or none.
    PARLEY_METRICS_PORT: config.metrics.port === null ? 'off' : String(config.metrics.port),
    PARLEY_METRICS_HOST: config.metrics.host,
  };
}

/** `url`: the gateway's WebSocket URL ('' without one); `opsUrl`: the ops server's (roles without a gateway). */
export type RoleProcess = { child: ChildProcess; url: string; opsUrl?: string; exited: Promise<number | null>; kill(signal?: NodeJS.Signals): Promise<number | null> };

/** Start a role in a child process and wait until it says it is ready. Killed at teardown. */
export async function startRoleProcess(t: Test, role: Role, config: Config, env: Record<string, string> = {}): Promise<RoleProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', runner, role], {
    env: { ...process.env, ...envFor(config), ...env },
    stdio: ['ignore', 'pipe', process.env.PARLEY_CHILD_STDERR ? 'pipe' : 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // PARLEY_CHILD_STDERR=<file>: keep children's logs for a failing test.
  if (process.env.PARLEY_CHILD_STDERR) child.stderr!.pipe((await import('node:fs')).createWriteStream(process.env.PARLEY_CHILD_STDERR, { flags: 'a' }));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const ready = await new Promise<{ url: string; opsUrl?: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${role} process not ready in 20 s`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      // "ready [<gateway url>] [ops=<ops url>]" (run-role.ts).
      const m = /ready(?: (?!ops=)(\S+))?(?: ops=(\S+))?\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1] ?? '', ...(m[2] ? { opsUrl: m[2] } : {}) });
      }
    });
    void exited.then((code) => reject(new Error(`${role} process exited with ${code} before it was ready`)));
  });
  return {
    child,
    ...ready,
    exited,
    kill: (signal = 'SIGKILL') => {
      child.kill(signal);
      return exited;
    },
  };
}
