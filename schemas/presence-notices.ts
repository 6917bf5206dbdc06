import { Type, type Static } from '@sinclair/typebox';
import { Timestamp, UserId, limits } from './common.js';

/**
 * Internal, core NATS only: what gateways tell the presence service on <prefix>.presence.notice
 * (gateway/presence-notices.ts → projections/presence/). Never seen by clients, but validated like
 * anything read off the wire: a malformed notice is dropped, never applied.
 *
 * Every notice carries the gateway's id, its epoch (random per start: a gateway restarted under the
 * same id is a new one) and a sequence number per epoch (a gap means a notice was lost, and the
 * service asks for a snapshot).
 */
const GatewayId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });
const Epoch = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
const Seq = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
const from = { gatewayId: GatewayId, epoch: Epoch, seq: Seq };

export const PresenceNotice = Type.Union([
  /** A user's first connection on this gateway started (online) or its last one closed (offline). */
  Type.Object({ type: Type.Literal('user'), ...from, userId: UserId, online: Type.Boolean() }, { additionalProperties: false }),
  /** Every PARLEY_PRESENCE_HEARTBEAT_MS: the gateway is alive and holds this many users. */
  Type.Object({ type: Type.Literal('heartbeat'), ...from, users: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
  /** Part of the gateway's whole user list, asked for on <prefix>.presence.sync.<gatewayId>. */
  Type.Object(
    {
      type: Type.Literal('snapshot'),
      ...from,
      syncId: Epoch,
      part: Type.Integer({ minimum: 0, maximum: 100_000 }),
      parts: Type.Integer({ minimum: 1, maximum: 100_000 }),
      users: Type.Array(UserId, { maxItems: 10_000 }),
    },
    { additionalProperties: false },
  ),
  /** The gateway is stopping cleanly: its users are gone from it now, without waiting for its lease. */
  Type.Object({ type: Type.Literal('gone'), ...from }, { additionalProperties: false }),
]);
export type PresenceNotice = Static<typeof PresenceNotice>;

/** A gateway's question for status.bulk on <prefix>.presence.status. */
export const PresenceStatusRequest = Type.Object({ userId: UserId }, { additionalProperties: false });
export type PresenceStatusRequest = Static<typeof PresenceStatusRequest>;

/**
 * A question for the presence service on <prefix>.presence.query (presence.subscribe, GET
 * /v1/presence): the presence of `users` as `userId` may see it (blocked either way: offline, never seen).
 */
export const PresenceQueryRequest = Type.Object(
  { userId: UserId, users: Type.Array(UserId, { maxItems: limits.presenceSubscriptionsMax }) },
  { additionalProperties: false },
);
export type PresenceQueryRequest = Static<typeof PresenceQueryRequest>;

/**
 * Every announced transition of a user, once, on <prefix>.presence.user.<userId> (core NATS:
 * dropped when no gateway watches the user), for the connections that presence.subscribe to them.
 * `told`: the contacts the same frame went to on their ephemeral subjects, whom the gateways skip
 * (one frame per transition, never two).
 */
export const PresenceTransition = Type.Object(
  {
    userId: UserId,
    isOnline: Type.Boolean(),
    lastSeen: Timestamp,
    told: Type.Array(UserId, { maxItems: 100_000 }),
  },
  { additionalProperties: false },
);
export type PresenceTransition = Static<typeof PresenceTransition>;
