/** `parley start [--role all|gateway|engine|projector|backend|push]`: run Parley until SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import { signDevToken } from '../lib/dev-token.js';
import { DEV_JWT_SECRET, loadConfig, type Config } from '../lib/config.js';
import { vapidKeysFromDataDir } from '../lib/vapid-keys.js';
import { createLogger } from '../lib/log.js';
import { startRoles, type Role, type Running } from '../app/roles.js';
import { ensureNats, type EnsuredNats } from './embedded-nats.js';
import { uwsForGateway, uwsRuntime } from '../gateway/uws.js';
import type { Cli } from './main.js';

export const usage = `Usage: parley start [--role all|gateway|engine|projector|backend|push]

Runs Parley against NATS JetStream. With --role all (the default) one process runs the WebSocket
gateway, the engine and the projectors; scale out by running roles separately. --role backend runs
the engine and the projectors (all but the gateway): with gateways apart, one process fewer to wake
per message. --role push runs the Web Push projector and sender alone (they are in all, projector
and backend too).

If NATS does not answer at the default local address (nats://127.0.0.1:4222) and nats-server is
installed, it is started for you (store and log under $PARLEY_DATA_DIR/nats, default .parley/nats)
and stopped with Parley. Without PARLEY_JWT_SECRET or PARLEY_JWKS_URL a development secret is
used (and said so loudly): never do that in production.

Options:
  -r, --role <role>   all | gateway | engine | projector | backend | push (default all)
  -h, --help          this help

Configuration: PARLEY_* environment variables (lib/config.ts), e.g. PARLEY_NATS_URL, PARLEY_PORT,
PARLEY_HOST, PARLEY_PREFIX, PARLEY_JWT_SECRET, PARLEY_LOG_LEVEL, PARLEY_LOG_FORMAT (json | pretty;
default: pretty on a terminal). Roles without a gateway serve /metrics, /health and /ready on
PARLEY_METRICS_PORT (default 9464; off: none) at PARLEY_METRICS_HOST. PARLEY_DEMO=on|off: the browser demo at /demo (on by default with
the development secret, which is the only case it mints tokens).
The gateway runs the best native uWebSockets.js build that loads here (the banner says which) and
refuses the slow ws emulation unless PARLEY_ALLOW_UWS_FALLBACK=1; PARLEY_UWS_BUILDS orders the
builds to try (btc-vision,trufflesuite,emulation).
`;

export const ROLES: readonly Role[] = ['all', 'gateway', 'engine', 'projector', 'backend', 'push'];
const STOP_TIMEOUT_MS = 15_000;

export async function run(args: string[], cli: Cli): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: { role: { type: 'string', short: 'r', default: 'all' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const role = values.role as Role;
  if (!ROLES.includes(role)) cli.usageError(`--role must be one of ${ROLES.join(', ')}; got ${JSON.stringify(values.role)}`);

  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    process.stderr.write(`parley start: bad configuration: ${(err as Error).message}\n`);
    return 1;
  }
  // A gateway on uWS's slow ws emulation is refused before NATS or anything else is started.
  if (role === 'all' || role === 'gateway') {
    try {
      uwsForGateway();
    } catch (err) {
      process.stderr.write(`parley start: ${(err as Error).message}\n`);
      return 1;
    }
  }
  const log = createLogger({ level: config.logLevel });
  const devSecret = config.auth.secret === undefined && config.auth.jwksUrl === undefined;
  if (devSecret) {
    config = { ...config, auth: { ...config.auth, secret: DEV_JWT_SECRET } };
    log.warn('NO PARLEY_JWT_SECRET OR PARLEY_JWKS_URL: USING THE BUILT-IN DEVELOPMENT SECRET. Anyone can mint tokens. Never run like this in production.');
    process.stderr.write(
      [
        '',
        '!!! WARNING: neither PARLEY_JWT_SECRET nor PARLEY_JWKS_URL is set.',
        '!!! Parley is using the built-in DEVELOPMENT JWT secret: anyone can mint a token for any user.',
        '!!! Fine on your laptop; never in production.',
        '',
        '',
      ].join('\n'),
    );
  }

  if (config.push.enabled && !config.push.vapid) {
    try {
      const { keys, created, file } = await vapidKeysFromDataDir(config.dataDir, 'mailto:parley@example.invalid');
      config = { ...config, push: { ...config.push, vapid: keys } };
      log.warn({ file, created }, 'NO PARLEY_VAPID_PUBLIC_KEY / PARLEY_VAPID_PRIVATE_KEY: Web Push uses the key pair in the data folder. In production, set them (and PARLEY_VAPID_SUBJECT).');
      if (created) process.stderr.write(`\n!!! Web Push: made a VAPID key pair in ${file}. Keep it: browsers' subscriptions are bound to it. In production set PARLEY_VAPID_PUBLIC_KEY, PARLEY_VAPID_PRIVATE_KEY and PARLEY_VAPID_SUBJECT.\n\n`);
    } catch (err) {
      process.stderr.write(`parley start: no VAPID keys configured and none could be kept in ${config.dataDir}: ${(err as Error).message}\n`);
      return 1;
    }
  }

  // Signals: the first one stops gracefully (also during start-up), a second one exits at once.
  let signalled: NodeJS.Signals | undefined;
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = resolve;
  });
  let nats: EnsuredNats | undefined;
  const handler = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting now');
      void nats?.stop();
      process.exit(1);
    }
    signalled = signal;
    onSignal(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  // Every handler and callback is guarded (lib/faults.ts); a promise rejected with nobody to hear it
  // is one more such bug, and costs a log line, not every user's connection (Node's default is to exit).
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled promise rejection; the process carries on'));

  try {
    nats = await ensureNats(config, log);
  } catch (err) {
    log.error({ natsUrl: config.natsUrl }, 'NATS is not available');
    process.stderr.write(`\nparley start: ${(err as Error).message}\n`);
    return 1;
  }

  let running: Running;
  try {
    running = await startRoles(role, config, log);
  } catch (err) {
    log.error({ err }, 'start-up failed');
    process.stderr.write(`parley start: start-up failed: ${(err as Error).message}\n`);
    await nats.stop();
    return 1;
  }

  if (!signalled) await printBanner(role, config, running, devSecret, nats.started);

  const signal = await stopRequested;
  log.info({ signal }, 'stopping');
  let code = 0;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    running.stop().then(
      () => 'stopped' as const,
      (err: unknown) => {
        log.error({ err }, 'error while stopping');
        return 'failed' as const;
      },
    ),
    new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    log.error(`did not stop within ${STOP_TIMEOUT_MS / 1000} s; exiting anyway`);
    code = 1;
  } else if (outcome === 'failed') {
    code = 1;
  }
  await nats.stop();
  log.info('stopped');
  return code;
}

/** Which uWebSockets.js build serves, and why the better ones did not load. */
function uwsLine(): string {
  const uws = uwsRuntime();
  const tried = uws.tried.map((t) => `${t.build}: ${t.error}`).join('; ');
  return `${uws.build}${uws.native ? ' (native)' : ' (SLOW ws EMULATION: PARLEY_ALLOW_UWS_FALLBACK=1)'}${tried ? `   (not loaded: ${tried})` : ''}`;
}

async function printBanner(role: Role, config: Config, running: Running, devSecret: boolean, natsStarted: boolean): Promise<void> {
  const lines: string[] = ['', `Parley is running (role ${role}, prefix ${config.prefix}, NATS ${config.natsUrl.join(',')}${natsStarted ? ', started by us' : ''}).`];
  const gateway = running.gateway;
  if (gateway) {
    const healthUrl = gateway.url.replace(/^ws/, 'http').replace(/\/ws$/, '/health');
    lines.push(
      `  WebSocket:  ${gateway.url}   (subprotocol parley.v1.json or parley.v1.msgpack; token as "Authorization: Bearer <jwt>", ?token=<jwt> or subprotocol bearer.<jwt>)`,
      `  Health:     ${healthUrl}`,
      `  uWS:        ${uwsLine()}`,
      `  Metrics:    ${healthUrl.replace(/\/health$/, '/metrics')}`,
    );
    if (gateway.demoUrl) lines.push(`  Demo:       ${gateway.demoUrl}${devSecret ? '   (open it in a browser: two users chatting)' : '   (PARLEY_DEMO=on: the page only; this server mints no tokens)'}`);
    if (devSecret) {
      lines.push(
        `  Get a token: npx parley token --sub alice --name Alice`,
        `  Dev token for alice (24 h): ${await signDevToken(
          { secret: DEV_JWT_SECRET, ...(config.auth.issuer ? { issuer: config.auth.issuer } : {}), ...(config.auth.audience ? { audience: config.auth.audience } : {}) },
          { sub: 'alice', name: 'Alice' },
          24 * 3600,
        )}`,
      );
    } else if (config.auth.secret !== undefined) {
      lines.push(`  Get a token: PARLEY_JWT_SECRET=… npx parley token --sub alice --name Alice   (same secret as this server)`);
    } else {
      lines.push(`  Tokens: issued by your identity provider (verified with ${config.auth.jwksUrl}).`);
    }
    lines.push(`  Try it:     npx parley demo --url ${gateway.url}`);
  } else {
    lines.push(`  No gateway in this role: clients connect to a process started with --role gateway or all.`);
    lines.push(
      running.ops
        ? `  Metrics:    ${running.ops.url}/metrics   (also ${running.ops.url}/health and ${running.ops.url}/ready; PARLEY_METRICS_PORT)`
        : `  Metrics:    off (PARLEY_METRICS_PORT=off)`,
    );
  }
  lines.push(`  Stop:       Ctrl-C or SIGTERM`, '');
  process.stdout.write(`${lines.join('\n')}\n`);
}
