/**
 * The gateway's metrics (README "Metrics"). Per-frame counters are children bound once per label
 * value (lib/metrics.ts BoundCounter): a frame costs a Map lookup and an inc. Connection and user
 * counts, the command backlog and faults are read from the gateways' own state at scrape time.
 */
import { closeCodes, errorCodes, type ErrorCode } from '../lib/errors.js';
import { BoundCounter, counter, gaugeFrom, Sources, sumOf } from '../lib/metrics.js';
import { clientPayloads, serverPayloads } from '../schemas/index.js';

/** What a gateway in this process shows at scrape time. */
export type GatewayGauges = {
  connections(): number;
  users(): number;
  backlog(): number;
  overloaded(): boolean;
  faults(): number;
};

export const gatewaySources = new Sources<GatewayGauges>();

gaugeFrom({ name: 'parley_gateway_connections', help: 'Open WebSocket connections', read: (g) => g.set(sumOf(gatewaySources, (s) => s.connections())) });
gaugeFrom({ name: 'parley_gateway_users', help: 'Users with at least one authenticated connection', read: (g) => g.set(sumOf(gatewaySources, (s) => s.users())) });
gaugeFrom({ name: 'parley_gateway_command_backlog', help: 'Commands and unfinished events waiting, as admission last read them', read: (g) => g.set(sumOf(gatewaySources, (s) => s.backlog())) });
gaugeFrom({ name: 'parley_gateway_overloaded', help: '1 while a gateway refuses sends as overloaded', read: (g) => g.set(gatewaySources.all.some((s) => s.overloaded()) ? 1 : 0) });
gaugeFrom({ name: 'parley_gateway_faults', help: 'Unexpected errors contained since start (each one is a bug to find)', read: (g) => g.set(sumOf(gatewaySources, (s) => s.faults())) });

const clientTypes = Object.keys(clientPayloads);
const serverTypes = [...Object.keys(serverPayloads), 'error'];

/** Client frames by type (unknown types count as `other`). */
export const framesIn = new BoundCounter(
  counter({ name: 'parley_gateway_frames_in_total', help: 'Client frames received, by type', labelNames: ['type'] }),
  'type',
  clientTypes,
);

/** Server frames by type. */
export const framesOut = new BoundCounter(
  counter({ name: 'parley_gateway_frames_out_total', help: 'Frames sent to clients, by type', labelNames: ['type'] }),
  'type',
  serverTypes,
);

/** Error frames by code (lib/errors.ts). */
export const errorsSent = new BoundCounter<ErrorCode>(
  counter({ name: 'parley_gateway_errors_sent_total', help: 'Error frames sent, by code', labelNames: ['code'] }),
  'code',
  Object.keys(errorCodes) as ErrorCode[],
);

/** Closes the gateway decided, by WebSocket close code. */
export const closesSent = new BoundCounter(
  counter({ name: 'parley_gateway_closes_total', help: 'Sockets closed by the gateway, by close code', labelNames: ['code'] }),
  'code',
  Object.values(closeCodes).map(String),
);

/** message.send (socket and REST): let in, or refused and why. */
export const sends = new BoundCounter(
  counter({ name: 'parley_gateway_sends_total', help: 'message.send let in (admitted) or refused (rate_limited, overloaded)', labelNames: ['result'] }),
  'result',
  ['admitted', 'rate_limited', 'overloaded'],
);

/** How sessions started: a fresh cursor, a resume (replay of missed entries), or a resume.reset. */
export const sessions = new BoundCounter(
  counter({ name: 'parley_gateway_sessions_total', help: 'Authenticated sessions started, by how (fresh, resumed: missed entries replayed, reset: resume.reset sent)', labelNames: ['start'] }),
  'start',
  ['fresh', 'resumed', 'reset'],
);

/** Inbox reads of replays and gap repairs, by how they were served (inbox-replay.ts). */
export const inboxReads = new BoundCounter(
  counter({ name: 'parley_gateway_inbox_reads_total', help: 'Inbox replay reads, by how they were served (scan: shared scans started, from_scan: reads answered by a scan, walked)', labelNames: ['how'] }),
  'how',
  ['scan', 'from_scan', 'walked'],
);
