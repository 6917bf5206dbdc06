import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import { closeForToken, closes, ParleyError } from '../lib/errors.js';
import { newId } from '../lib/ids.js';
import { AddressLimits, clientAddress } from './address-limits.js';
import { tokenFromRequest, type TokenVerifier } from './auth.js';
import { negotiate } from './codec.js';
import type { Connection, SocketData } from './connection.js';
import type { OriginPolicy } from './origins.js';

/**
 * Who may open a socket, and as whom: the upgrade's checks (draining, origin, per-address limits,
 * the cursor) before any socket exists, the per-address count of sockets not yet authenticated,
 * and the upgrade's token checked once the socket is open.
 */
export class SocketAdmission {
  readonly #origins: OriginPolicy;
  readonly #addresses: AddressLimits;
  readonly #trustProxyHops: number;
  readonly #isDraining: () => boolean;

  constructor(deps: { origins: OriginPolicy; addresses: AddressLimits; trustProxyHops: number; isDraining: () => boolean }) {
    this.#origins = deps.origins;
    this.#addresses = deps.addresses;
    this.#trustProxyHops = deps.trustProxyHops;
    this.#isDraining = deps.isDraining;
  }

  /** The uWS upgrade handler: refuses with an HTTP status, or upgrades with the socket's data. */
  upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    if (this.#isDraining()) {
      res.writeStatus('503 Service Unavailable').end('draining');
      return;
    }
    // Another site's page (PARLEY_ALLOWED_ORIGINS): refused before the upgrade, no socket made.
    if (!this.#origins.allows(req.getHeader('origin'))) {
      res.writeStatus('403 Forbidden').end('origin not allowed');
      return;
    }
    // Per-address limits, before any socket exists: a refused upgrade costs a 429 and nothing more.
    const address = clientAddress(Buffer.from(res.getRemoteAddressAsText()).toString(), req.getHeader('x-forwarded-for'), this.#trustProxyHops);
    const verdict = this.#addresses.admit(address, Date.now());
    if (!verdict.ok) {
      res
        .writeStatus('429 Too Many Requests')
        .writeHeader('retry-after', String(Math.max(1, Math.ceil(verdict.retryAfterMs / 1000))))
        .end(verdict.reason);
      return;
    }
    const key = req.getHeader('sec-websocket-key');
    const protocols = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const query = new URLSearchParams(req.getQuery() ?? '');
    const token = tokenFromRequest({ authorization: req.getHeader('authorization'), query: req.getQuery() ?? '', protocols });
    const deviceId = (req.getHeader('x-device-id') || query.get('deviceId') || 'default').slice(0, 128);
    const cursorText = query.get('cursor');
    const { codec, protocol } = negotiate(protocols);
    const data: SocketData = { connectionId: newId('conn'), codec, deviceId, address, ...(token !== undefined ? { token } : {}) };
    if (cursorText !== null) {
      const cursor = Number(cursorText);
      // Safe integers only: 1e23 is an integer to JavaScript, but not an inbox sequence, and
      // reading the inbox from it failed the socket with 1011 on every reconnect.
      if (!Number.isSafeInteger(cursor) || cursor < 0) {
        res.writeStatus('400 Bad Request').end('cursor must be a non-negative integer');
        return;
      }
      data.requestedCursor = cursor;
    }
    // Upgraded here and now, and the token verified once the socket is open: uWebSockets.js
    // 20.30 can close a socket it upgraded later, from a corked callback, right after `open`
    // (uNetworking/uWebSockets#1928); under a reconnect storm that dropped thousands (1006).
    res.upgrade(data, key, protocol, extensions, context);
  }

  /** A socket opened: unauthenticated until its token is verified or its authenticate frame is. */
  opened(data: SocketData): void {
    this.#addresses.opened(data.address);
    data.unauthenticated = true;
  }

  /** A socket counted as unauthenticated is no longer (it authenticated, or closed). */
  settle(data: SocketData): void {
    if (!data.unauthenticated) return;
    data.unauthenticated = false;
    this.#addresses.settled(data.address);
  }
}

/**
 * An opened socket's identity: the upgrade's token verified now (frames sent meanwhile wait on
 * `conn.verifying`), or else an `authenticate` frame awaited for `timeoutMs`.
 */
export function authenticateOpened(
  conn: Connection,
  data: SocketData,
  deps: { verifier: TokenVerifier; timeoutMs: number; onAuthenticated: (conn: Connection, requestedCursor?: number) => void },
): void {
  if (data.token !== undefined) {
    const token = data.token;
    delete data.token;
    conn.verifying = deps.verifier.verify(token).then(
      (identity) => {
        conn.verifying = undefined;
        if (conn.closed) return;
        conn.identity = identity;
        deps.onAuthenticated(conn, data.requestedCursor);
      },
      (err: unknown) => {
        conn.verifying = undefined;
        if (conn.closed) return;
        conn.sendError(err instanceof ParleyError ? err.code : 'unauthorized', (err as Error).message);
        conn.close(closeForToken(err instanceof ParleyError ? err.code : 'unauthorized'));
      },
    );
    return;
  }
  conn.authTimer = setTimeout(() => {
    if (conn.identity || conn.closed) return;
    conn.sendError('unauthorized', `no authenticate frame within ${deps.timeoutMs} ms`);
    conn.close(closes.authTimeout);
  }, deps.timeoutMs);
}
