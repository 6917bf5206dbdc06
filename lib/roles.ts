import type { Config } from './config.js';
import type { Logger } from './log.js';
import { makeNames, type Names } from './names.js';
import { connectNats, ensureStreams, jetstreamManager, type NatsConnection } from './nats.js';
import { startEngine, type Engine } from '../engine/engine.js';
import { startDeliveryProjector, type DeliveryProjector } from '../projections/delivery/projector.js';
import { startGateway, type Gateway } from '../gateway/gateway.js';

export type Role = 'all' | 'gateway' | 'engine' | 'projector';

export type Running = {
  names: Names;
  nc: NatsConnection;
  gateway?: Gateway;
  engine?: Engine;
  delivery?: DeliveryProjector;
  /** Stop in dependency order: stop taking work (gateway), finish work (engine, projector), then drain NATS. */
  stop(): Promise<void>;
};

/** Start the components of one process. Every role makes sure the streams exist (idempotent). */
export async function startRoles(role: Role, config: Config, log: Logger): Promise<Running> {
  const names = makeNames(config.prefix);
  const nc = await connectNats(config, `parley-${role}`, log);
  await ensureStreams(await jetstreamManager(nc), names, config);
  const engine = role === 'all' || role === 'engine' ? await startEngine({ nc, config, names, log }) : undefined;
  const delivery = role === 'all' || role === 'projector' ? await startDeliveryProjector({ nc, config, names, log }) : undefined;
  const gateway = role === 'all' || role === 'gateway' ? await startGateway({ nc, config, names, log }) : undefined;
  let stopping: Promise<void> | undefined;
  return {
    names,
    nc,
    ...(gateway ? { gateway } : {}),
    ...(engine ? { engine } : {}),
    ...(delivery ? { delivery } : {}),
    stop() {
      stopping ??= (async () => {
        await gateway?.stop();
        await engine?.stop();
        await delivery?.stop();
        await nc.drain();
      })();
      return stopping;
    },
  };
}
