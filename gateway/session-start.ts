import type { Config } from '../lib/config.js';
import { closes } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { Connection } from './connection.js';
import type { PresenceNotices } from './presence-notices.js';
import type { SocketAdmission } from './upgrade.js';
import type { UserFeeds } from './user-feeds.js';
import type { UserRateLimits } from './user-limits.js';
import { sessions } from './metrics.js';

/** The limits told to every connection in connection.success. */
export type AnnouncedLimits = ReturnType<typeof announcedLimits>;

/** Told to every connection, so that clients can pace themselves rather than find the limits by 4008. */
export function announcedLimits(config: Config) {
  return {
    framesPerSecond: config.limits.framesPerSecond,
    frameBurst: config.limits.frameBurst,
    badFramesPerMinute: config.limits.badFramesPerMinute,
    maxPayloadBytes: config.limits.maxPayloadBytes,
    userSendsPerSecond: config.rateLimits.user.sendsPerSecond,
    userSendBurst: config.rateLimits.user.sendBurst,
    userFramesPerSecond: config.rateLimits.user.framesPerSecond,
    userFrameBurst: config.rateLimits.user.frameBurst,
  };
}

/**
 * What a socket gets once its identity is known (by the upgrade's token or an `authenticate`
 * frame): its user's inbox feed attached from the cursor it asked for, `connection.success`
 * (and `resume.reset` when the cursor could not be kept), the stored entries it missed, the
 * unread summary, and presence: the user is online here, and gets `status.bulk` of their contacts.
 */
export function sessionStarter(deps: {
  feeds: UserFeeds;
  userLimits: UserRateLimits;
  admission: SocketAdmission;
  limits: AnnouncedLimits;
  sendUnreadSummary: (conn: Connection, userId: string) => Promise<void>;
  presence?: PresenceNotices;
  log: Logger;
}): (conn: Connection, requestedCursor?: number, ref?: string) => void {
  const { feeds, userLimits, admission, limits, sendUnreadSummary, presence, log } = deps;
  return (conn, requestedCursor, ref) => {
    clearTimeout(conn.authTimer);
    admission.settle(conn.ws.getUserData());
    const userId = conn.identity!.userId;
    // A connection costs its user a frame: a user over its frame limit (a flooder reconnecting
    // after each 4008) is closed here, before the inbox feed is attached and read for it.
    const wait = userLimits.takeFrame(userId);
    if (wait > 0) {
      conn.sendError('rate_limited', 'too many frames from this user; reconnect later', { ...(ref !== undefined ? { ref } : {}), retryAfterMs: wait });
      conn.close(closes.rateLimited);
      return;
    }
    feeds.attach(conn, userId, requestedCursor).then(
      ({ cursor, resumed, reset, end }) => {
        if (conn.closed) return feeds.detach(conn);
        conn.ws.cork(() => {
          conn.send({
            type: 'connection.success',
            ...(ref !== undefined ? { ref } : {}),
            payload: { userId, deviceId: conn.deviceId, connectionId: conn.id, cursor, resumed, serverTime: new Date().toISOString(), limits },
          });
          if (reset) conn.send({ type: 'resume.reset', payload: { ...reset, cursor } });
          sessions.inc(reset ? 'reset' : resumed ? 'resumed' : 'fresh');
        });
        feeds.start(conn, end);
        void sendUnreadSummary(conn, userId);
        if (presence) {
          presence.connected(conn);
          void presence.status(userId).then((users) => {
            if (users && !conn.closed) conn.send({ type: 'status.bulk', payload: { users } });
          });
        }
        log.debug({ userId, connectionId: conn.id, cursor, resumed }, 'connected');
      },
      (err: unknown) => {
        log.warn({ err, userId }, 'could not attach the inbox feed');
        conn.sendError('internal', 'inbox unavailable; retry');
        conn.close(closes.inboxUnavailable);
      },
    );
  };
}
