import type { Faults } from '../lib/faults.js';
import type { NatsUp } from '../lib/nats-up.js';
import type { CommandBacklog } from './command-backlog.js';
import type { ComponentHealth, GatewayHealth } from './gateway.js';
import type { InboxReplay } from './inbox-replay.js';
import type { UserFeeds } from './user-feeds.js';
import { uwsReport, uwsRuntime } from './uws.js';

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
