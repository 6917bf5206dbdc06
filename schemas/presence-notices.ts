import { Type, type Static } from '@sinclair/typebox';
import { UserId } from './common.js';

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
