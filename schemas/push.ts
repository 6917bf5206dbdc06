import { Type, type Static } from '@sinclair/typebox';
import { Id } from './common.js';

/**
 * POST /v1/push/subscriptions: a browser's `PushSubscription.toJSON()` as it comes (RFC 8030
 * endpoint, RFC 8291 keys), plus the app's optional device id. The keys' lengths are fixed by RFC
 * 8291 (a P-256 point uncompressed: 65 bytes; the auth secret: 16), so their base64url text is too;
 * whether p256dh is a point on the curve is checked after this (lib/push-keys.ts).
 */
export const PushSubscriptionBody = Type.Object(
  {
    endpoint: Type.String({ minLength: 1, maxLength: 2048, description: 'the push service URL the browser gave (https)' }),
    keys: Type.Object(
      {
        p256dh: Type.String({ pattern: '^[A-Za-z0-9_-]{87}={0,1}$', description: 'base64url of the 65-byte P-256 public key' }),
        auth: Type.String({ pattern: '^[A-Za-z0-9_-]{22}(==)?$', description: 'base64url of the 16-byte auth secret' }),
      },
      { additionalProperties: false },
    ),
    /** Browsers send it (null, or when the push service will end the subscription); not used. */
    expirationTime: Type.Optional(Type.Union([Type.Null(), Type.Integer({ minimum: 0 })])),
    deviceId: Type.Optional(Id),
    /** false: this device's pushes carry no preview of the text (a lock screen others can read). */
    preview: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type PushSubscriptionBody = Static<typeof PushSubscriptionBody>;

/** A subscription as Parley keeps it and lists it (GET /v1/push/subscriptions). */
export type StoredPushSubscription = {
  id: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
  deviceId?: string;
  /** false: no preview in this subscription's pushes. */
  preview?: boolean;
  createdAt: string;
};
