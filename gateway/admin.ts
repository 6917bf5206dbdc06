import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { closes } from '../lib/errors.js';
import { timeOfId } from '../lib/ids.js';
import { decodeJson, encodeJson } from '../lib/json.js';
import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';
import type { Connection } from './connection.js';
import type { Revocations } from './revocations.js';

/** One of a user's sockets, as GET /v1/admin/users/:id/connections lists it. */
export type ConnectionInfo = {
  connectionId: string;
  gatewayId: string;
  deviceId: string;
  codec: string;
  connectedAt: string;
  remoteAddress: string;
};

/** What an admin request to the gateways carries; `revokedAt` (ms) makes a disconnect a revocation. */
type AdminRequest = { userId: string; revokedAt?: number };
type ConnectionsAnswer = { gatewayId: string; connections: ConnectionInfo[] };
type DisconnectAnswer = { gatewayId: string; closed: number };

/**
 * Admin controls across gateways. A user's sockets may be on any gateway, and no gateway knows the
 * others, so every gateway subscribes to the admin subjects (no queue group) and the gateway that
 * takes the REST call asks them all, collecting the answers for `gatherMs` (scatter-gather): a
 * gateway that does not answer in time is left out of the counts, and `gateways` says how many did.
 */
export class GatewayAdmin {
  readonly #nc: NatsConnection;
  readonly #names: Names;
  readonly #gatewayId: string;
  readonly #connections: Map<string, Connection>;
  readonly #revocations: Revocations;
  readonly #gatherMs: number;
  readonly #log: Logger;
  readonly #subs: Subscription[] = [];

  constructor(opts: {
    nc: NatsConnection;
    names: Names;
    gatewayId: string;
    connections: Map<string, Connection>;
    revocations: Revocations;
    gatherMs: number;
    log: Logger;
  }) {
    this.#nc = opts.nc;
    this.#names = opts.names;
    this.#gatewayId = opts.gatewayId;
    this.#connections = opts.connections;
    this.#revocations = opts.revocations;
    this.#gatherMs = opts.gatherMs;
    this.#log = opts.log;
    // A revocation seen in the bucket closes the user's sockets here too, so that a gateway that
    // missed the scatter (cut off from NATS at the time) closes them once its watch catches up.
    // After the gather window: the watch usually brings the revocation before the scatter does, and
    // the sockets are then closed (and counted) by the scatter's answer.
    this.#revocations.onRevoked = (userId, revokedAt) => {
      setTimeout(() => this.closeRevoked(userId, revokedAt), this.#gatherMs).unref();
    };
  }

  /** Answer the other gateways' admin requests; resolves once the server has the subscriptions. */
  async start(): Promise<void> {
    this.#subs.push(
      this.#nc.subscribe(this.#names.subjects.adminConnections, {
        callback: (err, msg) => this.#answer(err, msg, (req) => ({ gatewayId: this.#gatewayId, connections: this.connectionsOf(req.userId) })),
      }),
      this.#nc.subscribe(this.#names.subjects.adminDisconnect, {
        callback: (err, msg) =>
          this.#answer(err, msg, (req) => {
            if (req.revokedAt === undefined) return { gatewayId: this.#gatewayId, closed: this.disconnect(req.userId) };
            // Applied at once (the watch may not have brought it yet), in the same turn as the close,
            // so that no socket of the user gets in between.
            const closed = this.closeRevoked(req.userId, req.revokedAt);
            this.#revocations.apply(req.userId, req.revokedAt);
            return { gatewayId: this.#gatewayId, closed };
          }),
      }),
    );
    await this.#nc.flush();
  }

  #answer(err: Error | null, msg: Msg, handle: (req: AdminRequest) => unknown): void {
    if (err || !msg.reply) return;
    try {
      const req = decodeJson<AdminRequest>(msg.data);
      if (typeof req?.userId !== 'string') return;
      msg.respond(encodeJson(handle(req)));
    } catch (e) {
      this.#log.warn({ err: e, subject: msg.subject }, 'bad admin request');
    }
  }

  /** The user's authenticated sockets on this gateway. */
  #socketsOf(userId: string): Connection[] {
    const found: Connection[] = [];
    for (const conn of this.#connections.values()) if (!conn.closed && conn.identity?.userId === userId) found.push(conn);
    return found;
  }

  connectionsOf(userId: string): ConnectionInfo[] {
    return this.#socketsOf(userId).map((conn) => {
      // Connection ids are time-ordered (lib/ids.ts): the upgrade's time, at no cost per socket.
      const connectedAt = timeOfId(conn.id);
      return {
        connectionId: conn.id,
        gatewayId: this.#gatewayId,
        deviceId: conn.deviceId,
        codec: conn.codec,
        connectedAt: Number.isFinite(connectedAt) ? new Date(connectedAt).toISOString() : '',
        remoteAddress: Buffer.from(conn.ws.getRemoteAddressAsText()).toString(),
      };
    });
  }

  /** Close the user's sockets here with 4003; how many. */
  disconnect(userId: string): number {
    const sockets = this.#socketsOf(userId);
    for (const conn of sockets) conn.close(closes.disconnectedByAdmin);
    return sockets.length;
  }

  /** Close the user's sockets here whose token was issued before `revokedAt`, with 4001; how many. */
  closeRevoked(userId: string, revokedAt: number): number {
    let closed = 0;
    for (const conn of this.#socketsOf(userId)) {
      const issuedAt = conn.identity!.issuedAt;
      if (issuedAt !== undefined && issuedAt >= revokedAt) continue; // refreshed with a newer token
      conn.sendError('unauthorized', 'token revoked');
      conn.close(closes.tokenRevoked);
      closed++;
    }
    return closed;
  }

  /** Every gateway's sockets of the user (this one's included), oldest first. */
  async listConnections(userId: string): Promise<{ connections: ConnectionInfo[]; gateways: number }> {
    const answers = await this.#gather<ConnectionsAnswer>(this.#names.subjects.adminConnections, { userId });
    const connections = answers.flatMap((a) => (Array.isArray(a.connections) ? a.connections : []));
    connections.sort((a, b) => a.connectedAt.localeCompare(b.connectedAt) || a.connectionId.localeCompare(b.connectionId));
    return { connections, gateways: answers.length };
  }

  /** Close the user's sockets on every gateway with 4003. */
  async disconnectEverywhere(userId: string): Promise<{ disconnected: number; gateways: number }> {
    const answers = await this.#gather<DisconnectAnswer>(this.#names.subjects.adminDisconnect, { userId });
    return { disconnected: answers.reduce((n, a) => n + (Number.isInteger(a.closed) ? a.closed : 0), 0), gateways: answers.length };
  }

  /**
   * Refuse the user's tokens issued before now, on every gateway from now on (stored first, so
   * that it holds even if the scatter misses a gateway), and close their sockets with 4001.
   */
  async revoke(userId: string, by: string): Promise<{ revokedAt: number; disconnected: number; gateways: number }> {
    const revokedAt = Date.now();
    await this.#revocations.store(userId, revokedAt, by);
    this.#revocations.apply(userId, revokedAt);
    const answers = await this.#gather<DisconnectAnswer>(this.#names.subjects.adminDisconnect, { userId, revokedAt });
    return { revokedAt, disconnected: answers.reduce((n, a) => n + (Number.isInteger(a.closed) ? a.closed : 0), 0), gateways: answers.length };
  }

  async #gather<T>(subject: string, request: AdminRequest): Promise<T[]> {
    const answers: T[] = [];
    const replies = await this.#nc.requestMany(subject, encodeJson(request), { strategy: 'timer', maxWait: this.#gatherMs });
    for await (const msg of replies) {
      try {
        answers.push(decodeJson<T>(msg.data));
      } catch (err) {
        this.#log.warn({ err, subject }, 'bad admin answer');
      }
    }
    return answers;
  }

  stop(): void {
    for (const sub of this.#subs) sub.unsubscribe();
    this.#subs.length = 0;
  }
}
