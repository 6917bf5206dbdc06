import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Faults } from '../lib/faults.js';
import { decodeJson } from '../lib/json.js';
import type { CommandOutcome } from '../schemas/index.js';
import type { Connection } from './connection.js';
import { renderOutcome } from './outcomes.js';
import type { OutcomeWaiter } from './rest/outcome-waiter.js';

/**
 * Command outcomes for sockets on this gateway (rejections, answers to repeated commands), from
 * this gateway's reply subject: to the REST request waiting for one, or else to the socket that
 * sent the command, if it is still open.
 */
export function routeOutcomes(deps: {
  nc: NatsConnection;
  subject: string;
  faults: Faults;
  waiter: OutcomeWaiter;
  connections: ReadonlyMap<string, Connection>;
}): Subscription {
  const { waiter, connections } = deps;
  return deps.nc.subscribe(deps.subject, {
    callback: deps.faults.guard('command outcome', (err: Error | null, msg: Msg) => {
      if (err) return;
      const o = decodeJson<CommandOutcome>(msg.data);
      if (waiter.deliver(o)) return;
      const conn = connections.get(o.connectionId);
      if (conn && !conn.closed) conn.ws.cork(() => renderOutcome(conn, o));
    }),
  });
}
