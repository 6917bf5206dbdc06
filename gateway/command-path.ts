import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Config } from '../lib/config.js';
import { JetStreamPublisher } from '../lib/js-publisher.js';
import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';
import { connectNats, drainWithin, undecidedCommands } from '../lib/nats.js';
import { deliveryBacklog, deliveryDurables } from '../lib/delivery-durables.js';
import { CommandBacklog } from './command-backlog.js';

/** How commands leave the gateway: their own NATS connection, a publisher on it, and the backlog that lets sends in. */
export type CommandPath = {
  nc: NatsConnection;
  publisher: JetStreamPublisher;
  backlog: CommandBacklog;
  /** The backlog's polling stopped, what the publisher holds written, the connection drained. */
  stop(): Promise<void>;
};

export async function openCommandPath(config: Config, names: Names, log: Logger): Promise<CommandPath> {
  // Commands go out, and their acks come back, on a connection of their own. On the shared one an
  // ack queues behind every inbox entry nats-server has yet to send us: when deliveries lag (at
  // overload), acks of commands already stored took over 5 s and the sends failed.
  const nc = await connectNats(config, 'parley-gateway-commands', log);
  const publisher = new JetStreamPublisher(nc, { coalesceWrites: { maxHeld: 32 } });
  const jsm = await jetstreamManager(nc);
  const backlog = new CommandBacklog(
    () => undecidedCommands(jsm, names),
    async () => deliveryBacklog(await deliveryDurables(jsm, names)),
    { maxBacklog: config.limits.maxCommandBacklog, maxWaitMs: config.limits.maxCommandWaitMs, ackLagMs: config.delivery.unreadFlushMs },
    log,
  );
  backlog.start();
  return {
    nc,
    publisher,
    backlog,
    async stop() {
      backlog.stop();
      await publisher.close();
      await drainWithin(nc, 5_000, log);
    },
  };
}
