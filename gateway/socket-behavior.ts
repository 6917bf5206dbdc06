import type { WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import type { Config } from '../lib/config.js';
import { closes } from '../lib/errors.js';
import type { Faults } from '../lib/faults.js';
import type { TokenVerifier } from './auth.js';
import { decodeFrame } from './codec.js';
import { Connection, type SocketData } from './connection.js';
import type { FrameHandler } from './frame-handler.js';
import { guardHttp } from './guard.js';
import { authenticateOpened, type SocketAdmission } from './upgrade.js';
import type { UserFeeds } from './user-feeds.js';

/**
 * The /ws route's handlers, per socket: the upgrade (upgrade.ts), a Connection made and counted on
 * open, each message decoded and handed to the frame handler, and everything the socket held
 * released on close.
 */
export function socketBehavior(deps: {
  config: Config;
  faults: Faults;
  connections: Map<string, Connection>;
  admission: SocketAdmission;
  verifier: TokenVerifier;
  frames: FrameHandler;
  feeds: UserFeeds;
  onAuthenticated: (conn: Connection, requestedCursor?: number) => void;
  /** After a socket closed and its own state is released: its typing ends (typing-relay.ts), its user may be gone from this gateway (presence). */
  onClosed?: (conn: Connection) => void;
}): WebSocketBehavior<SocketData> {
  const { config, faults, connections, admission, frames, feeds } = deps;

  const onMessage = faults.guard(
    'frame',
    (conn: Connection, message: ArrayBuffer, isBinary: boolean): void => {
      if (message.byteLength > config.limits.maxPayloadBytes) {
        frames.reject(conn, 'payload_too_large', `frames are limited to ${config.limits.maxPayloadBytes} bytes`);
        return;
      }
      const decoded = decodeFrame(message, isBinary);
      if (!decoded.ok && decoded.invalidUtf8) {
        conn.sendError('bad_frame', decoded.message);
        conn.close(closes.invalidText);
        return;
      }
      frames.handle(conn, decoded.ok ? decoded.value : undefined, decoded.ok ? undefined : decoded.message);
    },
    (_err, [conn]) => conn.sendError('internal', 'this frame could not be handled'),
  );

  return {
    maxPayloadLength: config.limits.maxPayloadBytes * 2,
    maxBackpressure: config.limits.maxBackpressureBytes * 2,
    idleTimeout: config.limits.idleTimeoutSec,
    sendPingsAutomatically: true,
    upgrade: guardHttp(faults, 'upgrade', (res, req, context) => admission.upgrade(res, req, context)),
    open: faults.guard('open', (ws: WebSocket<SocketData>) => {
      const data = ws.getUserData();
      const conn = new Connection(ws, data, config.limits, faults);
      data.connection = conn;
      connections.set(conn.id, conn);
      // Unauthenticated until its token is verified or its authenticate frame is (session-start.ts).
      admission.opened(data);
      authenticateOpened(conn, data, { verifier: deps.verifier, timeoutMs: config.auth.timeoutMs, onAuthenticated: deps.onAuthenticated });
    }),
    message: faults.guard('message', (ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean) => {
      const conn = ws.getUserData().connection!;
      if (conn.verifying) {
        // Frames sent before the upgrade's token is verified wait for it, in order. `message` is
        // only valid during this call, so it is copied.
        const copy = message.slice(0);
        conn.verifying = conn.verifying.then(() => {
          if (!conn.closed) onMessage(conn, copy, isBinary);
        });
        return;
      }
      onMessage(conn, message, isBinary);
    }),
    close: faults.guard('close', (ws: WebSocket<SocketData>) => {
      const conn = ws.getUserData().connection;
      if (!conn) return;
      conn.closed = true;
      clearTimeout(conn.authTimer);
      admission.settle(ws.getUserData());
      connections.delete(conn.id);
      feeds.detach(conn);
      deps.onClosed?.(conn);
    }),
  };
}
