import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/log.js';
import { makeNames, type Names } from '../lib/names.js';
import { StartUp } from './lifecycle.js';
import { NatsUp } from '../lib/nats-up.js';
import { readinessOf, type Readiness } from './readiness.js';
import { connectNats, drainWithin, ensureStreams, jetstreamManager, type NatsConnection } from '../lib/nats.js';
import { startEngine, type Engine } from '../engine/engine.js';
import { startDeliveryProjector, type DeliveryProjector } from '../projections/delivery/projector.js';
import { startGateway, type ComponentHealth, type Gateway } from '../gateway/gateway.js';
import { uwsForGateway } from '../gateway/uws.js';
import { openDatabase, type Database } from '../lib/pg.js';
import { startPostgresProjector, type PostgresProjectorStats } from '../projections/postgres/projector.js';
import { mirrorEnabled, startEventStoreMirror } from '../projections/eventstore/mirror.js';
import { startPresenceService, type PresenceServiceStats } from '../projections/presence/presence-service.js';
import { startPushProjector, type PushProjector } from '../projections/push/push-projector.js';
import { startPushSender, type PushSenderStats } from '../projections/push/push-sender.js';
import { startWebhookDispatcher } from '../projections/push/webhook-dispatcher.js';
import { startLeasedSingleton, withoutLease, type LeasedSingleton, type SingletonStats } from '../lib/leased-singleton.js';
import type { Component } from '../lib/component.js';
import { Kvm } from '@nats-io/kv';
import { collectProcessMetrics, metricsText } from '../lib/metrics.js';
import { startOpsServer, type OpsServer } from './ops-server.js';

/**
 * `backend`: the engine and the projectors, everything but the gateway, in one process. `push`:
 * the push projector and sender alone (they are also in `all`, `projector` and `backend`).
 */
export type Role = 'all' | 'gateway' | 'engine' | 'projector' | 'backend' | 'push';

export type Running = {
  names: Names;
  nc: NatsConnection;
  gateway?: Gateway;
  engine?: Engine;
  delivery?: DeliveryProjector;
  /** The read-model database (roles all and projector), for REST reads on the same pool. */
  db?: Database;
  /** The postgres projector: active in one projector process at a time (a lease), standing by in the others. */
  postgres?: LeasedSingleton<PostgresProjectorStats>;
  /** The presence service: one per installation (it announces each transition once), by a lease. */
  presence?: LeasedSingleton<PresenceServiceStats>;
  push?: PushProjector;
  pushSender?: LeasedSingleton<PushSenderStats>;
  /**
   * Whether the process's NATS connection is connected and reading (for /ready), in a role without
   * a gateway: a gateway watches the same connection already (its health's `nats.connected`).
   */
  natsUp?: NatsUp;
  /** True from the moment stop() begins: the process takes no new work (/ready says so). */
  readonly stopping: boolean;
  /** The ops HTTP server (/metrics, /health, /ready) of a role without a gateway, unless PARLEY_METRICS_PORT=off. */
  ops?: OpsServer;
  /** Stop in dependency order: stop taking work (gateway), finish work (engine, projector), then drain NATS. */
  stop(): Promise<void>;
};

/** How long a stop waits for NATS to confirm a drain (cli/start.ts gives the whole stop 15 s). */
const DRAIN_TIMEOUT_MS = 5_000;

/** Start the components of one process. Every role makes sure the streams exist (idempotent). */
export async function startRoles(role: Role, config: Config, log: Logger): Promise<Running> {
  // Before anything starts: a gateway refuses uWS's slow ws emulation unless PARLEY_ALLOW_UWS_FALLBACK=1.
  if (role === 'all' || role === 'gateway') uwsForGateway();
  const names = makeNames(config.prefix);
  // Event-loop lag is sampled from start, not from the first scrape.
  collectProcessMetrics();
  const startUp = new StartUp((err) => log.error({ err }, 'could not stop a part after a failed start-up'));
  const nc = await startUp.resource(
    () => connectNats(config, `parley-${role}`, log),
    (connection) => drainWithin(connection, DRAIN_TIMEOUT_MS, log),
  );
  await startUp.run(async () => ensureStreams(await jetstreamManager(nc), names, config, log));
  // The read-model database first: an unreachable DATABASE_URL fails start-up before anything runs.
  // A standalone gateway reads the models for REST when DATABASE_URL says where (never PGlite: one process).
  const projects = role === 'all' || role === 'projector' || role === 'backend';
  const db = await startUp.resource(
    async () => (projects || (role === 'gateway' && config.postgres.url) ? openDatabase(config, log) : undefined),
    async (database) => database?.close(),
  );
  /**
   * What must run in one process at a time runs under a lease of its own (lib/leased-singleton.ts):
   * any number of projector processes are safe, one runs each singleton, the others stand by.
   */
  const leased = async <S>(name: string, bucket: string, start: () => Promise<Component<S>>): Promise<LeasedSingleton<S>> =>
    startLeasedSingleton({ kv: await new Kvm(nc).open(bucket), leaseMs: config.engine.leaseMs, name, log, start });
  const engine = await startUp.component(async () => (role === 'all' || role === 'engine' || role === 'backend' ? startEngine({ nc, config, names, log }) : undefined));
  const delivery = await startUp.component(async () => (projects ? startDeliveryProjector({ nc, config, names, log }) : undefined));
  const postgres = await startUp.component(async () => {
    if (!db || !projects) return undefined;
    const start = () => startPostgresProjector({ nc, config, names, log, db });
    // An embedded PGlite is this process's own database: its projector runs here, no lease.
    return db.embedded ? withoutLease(await start()) : leased('postgres projector', names.buckets.postgresLeases, start);
  });
  const mirror = await startUp.component(async () =>
    projects && mirrorEnabled(process.env) ? leased('eventstore mirror', names.buckets.mirrorLeases, () => startEventStoreMirror({ nc, config, names, log })) : undefined,
  );
  // One per installation: two would announce every transition twice.
  const presence = await startUp.component(async () =>
    db && projects ? leased('presence service', names.buckets.presenceLeases, () => startPresenceService({ nc, config, names, log, db })) : undefined,
  );
  const pushes = config.push.enabled && (projects || role === 'push');
  const push = await startUp.component(async () => (pushes ? startPushProjector({ nc, config, names, log }) : undefined));
  const pushSender = await startUp.component(async () =>
    pushes && config.push.vapid ? leased('push sender', names.buckets.pushSenderLeases, () => startPushSender({ nc, config, names, log })) : undefined,
  );
  const webhooks = await startUp.component(async () =>
    pushes && config.push.webhook ? leased('webhook dispatcher', names.buckets.webhookLeases, () => startWebhookDispatcher({ nc, config, names, log })) : undefined,
  );
  if (pushes && !config.push.vapid) log.warn('Web Push is off: no VAPID keys (PARLEY_VAPID_PUBLIC_KEY / PARLEY_VAPID_PRIVATE_KEY)');
  const components = (): ComponentHealth[] => [
    ...(postgres ? [postgresHealth(postgres.stats())] : []),
    // The command partitions this process's engine holds a lease on (the others hold the rest).
    ...(engine ? [{ name: 'engine', ok: true, partitions: engine.stats().partitions }] : []),
    // The delivery partitions this process's delivery projector holds (PARLEY_DELIVERY_PARTITIONS).
    ...(delivery ? [{ name: 'delivery', ok: true, partitions: delivery.stats().partitions }] : []),
    // Counts of push decisions and outcomes since start (the record of each is GET /v1/push/log),
    // and the push partitions this process's push projector holds (as many as delivery's).
    // The sender and the dispatcher: their counts where they run, { state: 'standby' } where another process runs them.
    ...(push ? [{ name: 'push', ok: true, ...push.stats(), ...(pushSender ? { sender: singletonHealth(pushSender.stats()) } : {}), ...(webhooks ? { webhooks: singletonHealth(webhooks.stats()) } : {}) }] : []),
  ];

  let ready: () => Promise<Readiness> = async () => ({ ready: false, checks: [{ name: 'starting', ok: false, detail: 'the process is starting' }] });
  const gateway = await startUp.component(async () =>
    // /ready covers every component of the process: bound once the process is assembled, below.
    role === 'all' || role === 'gateway' ? startGateway({ nc, config, names, log, components, ready: () => ready(), ...(db ? { db } : {}) }) : undefined,
  );
  // Whether this process's NATS connection is up and reading, for /health and /ready of a role
  // without a gateway (a gateway has its own watch on the same connection: one flush is enough).
  const natsUp = gateway ? undefined : new NatsUp(nc);
  // Roles without a gateway answer /metrics, /health and /ready on a port of their own.
  const startedAt = Date.now();
  const roleHealth = (): RoleHealth => {
    const parts = components();
    const natsConnected = natsUp?.up ?? false;
    return {
      status: natsConnected && parts.every((c) => c.ok) ? 'ok' : 'degraded',
      role,
      nats: { connected: natsConnected, server: nc.getServer() },
      components: parts,
      uptimeSec: Math.round((Date.now() - startedAt) / 1000),
    };
  };
  const ops = await startUp.resource(
    async () =>
      !gateway && config.metrics.port !== null
        ? startOpsServer({ host: config.metrics.host, port: config.metrics.port, handlers: { metrics: metricsText, health: roleHealth, ready: () => ready() }, log })
        : undefined,
    async (server) => {
      natsUp?.stop();
      await server?.stop();
    },
  );
  let stopping: Promise<void> | undefined;
  const running: Running = {
    names,
    nc,
    ...(gateway ? { gateway } : {}),
    ...(engine ? { engine } : {}),
    ...(delivery ? { delivery } : {}),
    ...(db ? { db } : {}),
    ...(postgres ? { postgres } : {}),
    ...(presence ? { presence } : {}),
    ...(push ? { push } : {}),
    ...(pushSender ? { pushSender } : {}),
    ...(natsUp ? { natsUp } : {}),
    get stopping() {
      return stopping !== undefined;
    },
    ...(ops ? { ops } : {}),
    stop() {
      stopping ??= (async () => {
        await gateway?.stop();
        await engine?.stop();
        await delivery?.stop();
        await postgres?.stop();
        await mirror?.stop();
        await presence?.stop();
        await push?.stop();
        await pushSender?.stop();
        await webhooks?.stop();
        await drainWithin(nc, DRAIN_TIMEOUT_MS, log);
        await db?.close();
        // Last: /health and /ready answer while the role drains.
        natsUp?.stop();
        await ops?.stop();
      })();
      return stopping;
    },
  };
  ready = readinessOf(running, config);
  return running;
}

/** /health of a role without a gateway (its ops server): liveness, answered 200 whatever the status. */
export type RoleHealth = {
  status: 'ok' | 'degraded';
  role: Role;
  nats: { connected: boolean; server: string };
  components: ComponentHealth[];
  uptimeSec: number;
};

/** Batches failing for longer than this make /health degraded: past a blip, every user's REST reads are going stale. */
const POSTGRES_FAILING_MS = 10_000;

/** A singleton's counts where it runs here (state: 'active'), or only its state where it does not. */
function singletonHealth<S extends object>(stats: SingletonStats<S>): Record<string, unknown> {
  return stats.state === 'active' ? { state: 'active', ...stats.inner } : { state: stats.state };
}

/** A standby (another projector process holds the lease) or starting projector is fine: ok, with its state. */
function postgresHealth(singleton: SingletonStats<PostgresProjectorStats>): ComponentHealth {
  if (singleton.state !== 'active') return { name: 'postgres-projector', ok: true, state: singleton.state };
  const stats = singleton.inner;
  const failingMs = stats.failingSince === null ? 0 : Date.now() - stats.failingSince;
  // Parked events do not make it degraded: the read models move on; they are missing those events' effects.
  return {
    name: 'postgres-projector',
    ok: failingMs < POSTGRES_FAILING_MS,
    state: 'active',
    checkpoint: stats.checkpoint,
    failingMs,
    failed: stats.failed,
    sanitized: stats.sanitized,
    invalid: stats.invalid,
    parked: stats.parked,
  };
}
