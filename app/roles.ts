import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/log.js';
import { makeNames, type Names } from '../lib/names.js';
import { StartUp } from './lifecycle.js';
import { connectNats, drainWithin, ensureStreams, jetstreamManager, type NatsConnection } from '../lib/nats.js';
import { startEngine, type Engine } from '../engine/engine.js';
import { startDeliveryProjector, type DeliveryProjector } from '../projections/delivery/projector.js';
import { startGateway, type ComponentHealth, type Gateway } from '../gateway/gateway.js';
import { openDatabase, type Database } from '../lib/pg.js';
import { startPostgresProjector, type PostgresProjector, type PostgresProjectorStats } from '../projections/postgres/projector.js';
import { mirrorEnabled, startEventStoreMirror } from '../projections/eventstore/mirror.js';
import { startPresenceService, type PresenceService } from '../projections/presence/presence-service.js';
import { startPushProjector, type PushProjector } from '../projections/push/push-projector.js';
import { startPushSender, type PushSender } from '../projections/push/push-sender.js';
import { startWebhookDispatcher } from '../projections/push/webhook-dispatcher.js';

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
  postgres?: PostgresProjector;
  presence?: PresenceService;
  push?: PushProjector;
  pushSender?: PushSender;
  /** Stop in dependency order: stop taking work (gateway), finish work (engine, projector), then drain NATS. */
  stop(): Promise<void>;
};

/** How long a stop waits for NATS to confirm a drain (cli/start.ts gives the whole stop 15 s). */
const DRAIN_TIMEOUT_MS = 5_000;

/** Start the components of one process. Every role makes sure the streams exist (idempotent). */
export async function startRoles(role: Role, config: Config, log: Logger): Promise<Running> {
  const names = makeNames(config.prefix);
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
  const engine = await startUp.component(async () => (role === 'all' || role === 'engine' || role === 'backend' ? startEngine({ nc, config, names, log }) : undefined));
  const delivery = await startUp.component(async () => (projects ? startDeliveryProjector({ nc, config, names, log }) : undefined));
  const postgres = await startUp.component(async () => (db && projects ? startPostgresProjector({ nc, config, names, log, db }) : undefined));
  const mirror = await startUp.component(async () => (projects && mirrorEnabled(process.env) ? startEventStoreMirror({ nc, config, names, log }) : undefined));
  const presence = await startUp.component(async () => (db && projects ? startPresenceService({ nc, config, names, log, db }) : undefined));
  const pushes = config.push.enabled && (projects || role === 'push');
  const push = await startUp.component(async () => (pushes ? startPushProjector({ nc, config, names, log }) : undefined));
  const pushSender = await startUp.component(async () => (pushes && config.push.vapid ? startPushSender({ nc, config, names, log }) : undefined));
  const webhooks = await startUp.component(async () => (pushes && config.push.webhook ? startWebhookDispatcher({ nc, config, names, log }) : undefined));
  if (pushes && !config.push.vapid) log.warn('Web Push is off: no VAPID keys (PARLEY_VAPID_PUBLIC_KEY / PARLEY_VAPID_PRIVATE_KEY)');
  const components = (): ComponentHealth[] => [
    ...(postgres ? [postgresHealth(postgres.stats())] : []),
    // The command partitions this process's engine holds a lease on (the others hold the rest).
    ...(engine ? [{ name: 'engine', ok: true, partitions: engine.stats().partitions }] : []),
    // The delivery partitions this process's delivery projector holds (PARLEY_DELIVERY_PARTITIONS).
    ...(delivery ? [{ name: 'delivery', ok: true, partitions: delivery.stats().partitions }] : []),
    // Counts of push decisions and outcomes since start (the record of each is GET /v1/push/log),
    // and the push partitions this process's push projector holds (as many as delivery's).
    ...(push ? [{ name: 'push', ok: true, ...push.stats(), ...(pushSender ? { sender: pushSender.stats() } : {}), ...(webhooks ? { webhooks: webhooks.stats() } : {}) }] : []),
  ];

  const gateway = await startUp.component(async () =>
    role === 'all' || role === 'gateway' ? startGateway({ nc, config, names, log, components, ...(db ? { db } : {}) }) : undefined,
  );
  let stopping: Promise<void> | undefined;
  return {
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
      })();
      return stopping;
    },
  };
}

/** Batches failing for longer than this make /health degraded: past a blip, every user's REST reads are going stale. */
const POSTGRES_FAILING_MS = 10_000;

function postgresHealth(stats: PostgresProjectorStats): ComponentHealth {
  const failingMs = stats.failingSince === null ? 0 : Date.now() - stats.failingSince;
  // Parked events do not make it degraded: the read models move on; they are missing those events' effects.
  return {
    name: 'postgres-projector',
    ok: failingMs < POSTGRES_FAILING_MS,
    checkpoint: stats.checkpoint,
    failingMs,
    failed: stats.failed,
    sanitized: stats.sanitized,
    invalid: stats.invalid,
    parked: stats.parked,
  };
}
