import type { NatsConnection } from '@nats-io/nats-core';
import type { Faults } from '../lib/faults.js';
import { ReaderLiveness } from '../lib/liveness.js';
import type { CommandBacklog } from './command-backlog.js';
import type { ComponentHealth, GatewayHealth } from './gateway.js';
import type { InboxReplay } from './inbox-replay.js';
import type { UserFeeds } from './user-feeds.js';
import { uwsReport, uwsRuntime } from './uws.js';

/** Whether a NATS connection is up: connected AND reading (see lib/liveness.ts). */
export class NatsUp {
  readonly #nc: NatsConnection;
  readonly #liveness: ReaderLiveness;
  readonly #connected: () => boolean;

  /** `onReconnect` runs after each reconnect. */
  constructor(nc: NatsConnection, onReconnect?: () => void) {
    this.#nc = nc;
    this.#liveness = new ReaderLiveness(nc);
    this.#connected = connectedFlag(nc, onReconnect);
  }

  get up(): boolean {
    return this.#connected() && this.#liveness.alive;
  }

  get server(): string {
    return this.#nc.getServer();
  }

  stop(): void {
    this.#liveness.stop();
  }
}

/** Whether a NATS connection is up, as its status events tell; `onReconnect` runs after each reconnect. */
function connectedFlag(nc: NatsConnection, onReconnect?: () => void): () => boolean {
  let connected = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') connected = false;
      if (s.type === 'reconnect') {
        connected = true;
        onReconnect?.();
      }
    }
  })();
  return () => connected && !nc.isClosed();
}

/** What /health answers, read from the parts that know. */
export function healthReport(parts: {
  draining: boolean;
  gatewayId: string;
  nats: NatsUp;
  commandsNats: NatsUp;
  connections: number;
  feeds: UserFeeds;
  backlog: CommandBacklog;
  replay: InboxReplay;
  faults: Faults;
  components: ComponentHealth[] | undefined;
  startedAt: number;
}): GatewayHealth {
  const { components, backlog } = parts;
  const natsConnected = parts.nats.up;
  const commandsConnected = parts.commandsNats.up;
  const up = natsConnected && commandsConnected && (components ?? []).every((c) => c.ok);
  return {
    status: parts.draining ? 'draining' : up ? 'ok' : 'degraded',
    gatewayId: parts.gatewayId,
    nats: {
      connected: natsConnected,
      server: parts.nats.server,
      commands: { connected: commandsConnected, server: parts.commandsNats.server },
    },
    uws: uwsReport(uwsRuntime()),
    connections: parts.connections,
    users: parts.feeds.users,
    commands: { backlog: backlog.size, drainPerSec: backlog.drainPerSec === undefined ? null : Math.round(backlog.drainPerSec), overloaded: backlog.overloaded, shedding: backlog.shedding },
    replay: { ...parts.replay.served },
    faults: parts.faults.count,
    ...(components ? { components } : {}),
    uptimeSec: Math.round((Date.now() - parts.startedAt) / 1000),
  };
}
