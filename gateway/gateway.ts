import type { NatsConnection } from '@nats-io/nats-core';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Msg } from '@nats-io/nats-core';
import { Kvm } from '@nats-io/kv';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { Config } from '../lib/config.js';
import { closeForToken, closes, errorBody, ParleyError } from '../lib/errors.js';
import { newId } from '../lib/ids.js';
import { Faults } from '../lib/faults.js';
import { decodeJson } from '../lib/json.js';
import { ReaderLiveness } from '../lib/liveness.js';
import { JetStreamPublisher } from '../lib/js-publisher.js';
import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';
import { commandStreamInfos, connectNats, drainWithin } from '../lib/nats.js';
import type { CommandOutcome } from '../schemas/index.js';
import { GatewayAdmin } from './admin.js';
import { CommandBacklog } from './command-backlog.js';
import { createTokenVerifier, tokenFromRequest, type TokenVerifier } from './auth.js';
import { decodeFrame, negotiate } from './codec.js';
import { Connection, type SocketData } from './connection.js';
import { FrameHandler } from './frame-handler.js';
import { guardHttp } from './guard.js';
import { renderOutcome } from './outcomes.js';
import { OutcomeWaiter } from './rest/outcome-waiter.js';
import type { ReadDb } from './rest/read-models.js';
import { mountRest } from './rest/routes.js';
import { totalOf, type UnreadMap } from '../lib/unread-map.js';
import { DirectGets, DirectReader } from './direct-get.js';
import { createFeedSubscriptions } from './feed-subscriptions.js';
import { InboxReplay } from './inbox-replay.js';
import { OriginPolicy } from './origins.js';
import { refusingRevoked, Revocations } from './revocations.js';
import { TokenExpiry } from './token-expiry.js';
import { AddressLimits, clientAddress } from './address-limits.js';
import { startUsageShare } from './usage-share.js';
import { UserLimits } from './user-limits.js';
import { cachingVerifier } from './token-cache.js';
import { UserFeeds } from './user-feeds.js';
import { uWS, uwsRuntime } from './uws.js';

export type Gateway = {
  port: number;
  url: string;
  health(): GatewayHealth;
  stop(): Promise<void>;
};

/** A component's own account of itself, for /health. */
export type ComponentHealth = { name: string; ok: boolean; [detail: string]: unknown };

export type GatewayHealth = {
  status: 'ok' | 'degraded' | 'draining';
  gatewayId: string;
  /** The shared connection (feeds, inbox reads), and the one commands go out on. */
  nats: { connected: boolean; server: string; commands: { connected: boolean; server: string } };
  uws: { native: boolean; reason?: string };
  connections: number;
  users: number;
  /**
   * Commands and unfinished events waiting (as last read, plus the sends let in since), the events
   * a second the delivery projector takes (null: not measured yet), and whether sends are refused.
   */
  commands: { backlog: number; drainPerSec: number | null; overloaded: boolean; shedding: boolean };
  /** How inbox replays were read: shared scans started, reads answered by scans, reads walked. */
  replay: { scans: number; fromScans: number; walked: number };
  /** Unexpected errors contained (logged, answered `internal`) since start: each one is a bug to find. */
  faults: number;
  /** Components of the same process, when it runs them (role all): a failing one makes the status degraded. */
  components?: ComponentHealth[];
  uptimeSec: number;
};

/**
 * The WebSocket gateway: auth at upgrade or by `authenticate` frame, frames in both codecs,
 * commands onto the command stream, per-user inbox feeds out, command outcomes back to the one
 * socket that sent the command, and /health.
 */
export async function startGateway(opts: {
  nc: NatsConnection;
  config: Config;
  names: Names;
  log: Logger;
  verifier?: TokenVerifier;
  /** The Postgres read models, for REST reads (absent: REST reads answer 500 internal). */
  db?: ReadDb;
  /** The health of the other components of this process, for /health. */
  components?: () => ComponentHealth[];
}): Promise<Gateway> {
  const { nc, config, names } = opts;
  const log = opts.log.child({ component: 'gateway', gatewayId: config.gatewayId });
  if (!uwsRuntime.native) {
    log.error({ reason: uwsRuntime.reason, binary: uwsRuntime.binary }, 'uWebSockets.js is running its SLOW ws FALLBACK, not the native server');
  }
  const faults = new Faults(log);
  // Fails fast when the server has no JetStream (the inbox reads below need it).
  await jetstreamManager(nc);
  // Every token check (upgrade, authenticate, auth.refresh, REST) also refuses revoked tokens; the
  // revocations are all read before the gateway serves.
  const revocations = await Revocations.open(await new Kvm(nc).open(names.buckets.revocations), log);
  // Verified tokens are remembered (token-cache.ts); revocation is still checked on every use.
  const verifier = refusingRevoked(cachingVerifier(opts.verifier ?? createTokenVerifier(config.auth)), revocations);
  const origins = new OriginPolicy(config.allowedOrigins);
  // Commands go out, and their acks come back, on a connection of their own. On the shared one an
  // ack queues behind every inbox entry nats-server has yet to send us: when deliveries lag (at
  // overload), acks of commands already stored took over 5 s and the sends failed.
  const commandsNc = await connectNats(config, 'parley-gateway-commands', log);
  const publisher = new JetStreamPublisher(commandsNc, { coalesceWrites: { maxHeld: 32 } });
  const commandsJsm = await jetstreamManager(commandsNc);
  const backlog = new CommandBacklog(
    commandsJsm,
    async () => (await commandStreamInfos(commandsJsm, names)).reduce((n, s) => n + s.state.messages, 0),
    { stream: names.streams.events, consumer: names.consumers.delivery },
    { maxBacklog: config.limits.maxCommandBacklog, maxWaitMs: config.limits.maxCommandWaitMs, ackLagMs: config.delivery.unreadFlushMs },
    log,
  );
  backlog.start();
  const directGets = new DirectGets(nc);
  const inboxReader = new DirectReader(directGets, names.streams.inbox);
  const replay = new InboxReplay(nc, inboxReader, log);
  const feeds = new UserFeeds(names, inboxReader, replay, log);
  feeds.subscribe(
    createFeedSubscriptions(
      config.gatewayFeeds,
      nc,
      names,
      {
        live: faults.guard('live feed', (userId: string, msg: Msg) => feeds.onLive(userId, msg)),
        ephemeral: faults.guard('ephemeral feed', (userId: string, msg: Msg) => feeds.onEphemeral(userId, msg)),
      },
      log,
    ),
  );
  const connections = new Map<string, Connection>();
  const unreadKv = new DirectReader(directGets, names.kv.stream(names.buckets.unread));

  /** Unread counts are live updates (ephemeral); a connecting client first gets where they stand. */
  const sendUnreadSummary = async (conn: Connection, userId: string): Promise<void> => {
    try {
      // As projections/delivery/unread-totals.ts readUnread, through the gateway's Direct Gets.
      const entry = await unreadKv.last(names.kv.key(names.buckets.unread, userId));
      const map = entry && entry.data.length > 0 ? decodeJson<UnreadMap>(entry.data) : {};
      const conversations = Object.entries(map).map(([conversationId, unread]) => ({ conversationId, unread }));
      if (!conn.closed) conn.ws.cork(() => conn.send({ type: 'unread.summary', payload: { conversations, totalUnread: totalOf(map) } }));
    } catch (err) {
      log.warn({ err, userId }, 'could not read unread counts');
    }
  };
  const startedAt = Date.now();
  let draining = false;
  // Up means connected AND reading: see lib/liveness.ts.
  const natsLiveness = new ReaderLiveness(nc);
  const commandsLiveness = new ReaderLiveness(commandsNc);
  const natsConnectedFlag = connectedFlag(nc, () => feeds.recheckAll());
  const commandsConnectedFlag = connectedFlag(commandsNc);
  const natsConnected = () => natsConnectedFlag() && natsLiveness.alive;
  const commandsConnected = () => commandsConnectedFlag() && commandsLiveness.alive;

  const expiry = new TokenExpiry(connections, config.auth.clockToleranceSec * 1000);
  const admin = new GatewayAdmin({ nc, names, gatewayId: config.gatewayId, connections, revocations, gatherMs: config.admin.gatherMs, log });
  await admin.start();

  // Abuse limits: per user (kept after connections close, shared with the other gateways) and per address.
  const userLimits = new UserLimits(config.rateLimits.user);
  const usageShare = startUsageShare({ nc, subject: names.subjects.limitsUsage, gatewayId: config.gatewayId, users: userLimits, log });
  const addresses = new AddressLimits(config.rateLimits.address);
  /** A socket counted as unauthenticated is no longer (it authenticated, or closed). */
  const settleAddress = (data: SocketData): void => {
    if (!data.unauthenticated) return;
    data.unauthenticated = false;
    addresses.settled(data.address);
  };

  // Told to every connection, so that clients can pace themselves rather than find the limits by 4008.
  const limits = {
    framesPerSecond: config.limits.framesPerSecond,
    frameBurst: config.limits.frameBurst,
    badFramesPerMinute: config.limits.badFramesPerMinute,
    maxPayloadBytes: config.limits.maxPayloadBytes,
    userSendsPerSecond: config.rateLimits.user.sendsPerSecond,
    userSendBurst: config.rateLimits.user.sendBurst,
    userFramesPerSecond: config.rateLimits.user.framesPerSecond,
    userFrameBurst: config.rateLimits.user.frameBurst,
  };
  const onAuthenticated = (conn: Connection, requestedCursor?: number, ref?: string): void => {
    clearTimeout(conn.authTimer);
    settleAddress(conn.ws.getUserData());
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
        });
        feeds.start(conn, end);
        void sendUnreadSummary(conn, userId);
        log.debug({ userId, connectionId: conn.id, cursor, resumed }, 'connected');
      },
      (err: unknown) => {
        log.warn({ err, userId }, 'could not attach the inbox feed');
        conn.sendError('internal', 'inbox unavailable; retry');
        conn.close(closes.inboxUnavailable);
      },
    );
  };

  const frames = new FrameHandler({
    names,
    partitions: config.partitions,
    gatewayId: config.gatewayId,
    publisher,
    verifier,
    log,
    onAuthenticated: (conn, ref) => onAuthenticated(conn, conn.ws.getUserData().requestedCursor, ref),
    admitSend: (userId) => backlog.admit(userId),
    userLimits,
    onTokenRefreshed: (conn, ref) => {
      conn.send({
        type: 'auth.refreshed',
        ...(ref !== undefined ? { ref } : {}),
        payload: { expiresAt: new Date(conn.identity!.expiresAt).toISOString() },
      });
    },
  });

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

  // Command outcomes for sockets on this gateway (rejections, answers to repeated commands).
  const outcomes = nc.subscribe(names.subjects.reply(config.gatewayId), {
    callback: faults.guard('command outcome', (err: Error | null, msg: Msg) => {
      if (err) return;
      const o = decodeJson<CommandOutcome>(msg.data);
      if (waiter.deliver(o)) return;
      const conn = connections.get(o.connectionId);
      if (conn && !conn.closed) conn.ws.cork(() => renderOutcome(conn, o));
    }),
  });

  const waiter = new OutcomeWaiter();
  const app: TemplatedApp = uWS.App();
  mountRest(app, {
    verifier,
    submit: (command) => frames.publish(command),
    waiter,
    ...(opts.db ? { db: opts.db } : {}),
    gatewayId: config.gatewayId,
    maxBodyBytes: config.limits.maxPayloadBytes,
    timeoutMs: 10_000,
    admitSend: (userId) => backlog.admit(userId),
    userLimits,
    origins,
    admin,
    log,
    faults,
  });
  app.ws<SocketData>('/ws', {
    maxPayloadLength: config.limits.maxPayloadBytes * 2,
    maxBackpressure: config.limits.maxBackpressureBytes * 2,
    idleTimeout: config.limits.idleTimeoutSec,
    sendPingsAutomatically: true,
    upgrade: guardHttp(faults, 'upgrade', (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
      if (draining) {
        res.writeStatus('503 Service Unavailable').end('draining');
        return;
      }
      // Another site's page (PARLEY_ALLOWED_ORIGINS): refused before the upgrade, no socket made.
      if (!origins.allows(req.getHeader('origin'))) {
        res.writeStatus('403 Forbidden').end('origin not allowed');
        return;
      }
      // Per-address limits, before any socket exists: a refused upgrade costs a 429 and nothing more.
      const address = clientAddress(Buffer.from(res.getRemoteAddressAsText()).toString(), req.getHeader('x-forwarded-for'), config.rateLimits.trustProxyHops);
      const verdict = addresses.admit(address, Date.now());
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
    }),
    open: faults.guard('open', (ws: WebSocket<SocketData>) => {
      const data = ws.getUserData();
      const conn = new Connection(ws, data, config.limits, faults);
      data.connection = conn;
      connections.set(conn.id, conn);
      // Unauthenticated until its token is verified or its authenticate frame is (onAuthenticated).
      addresses.opened(data.address);
      data.unauthenticated = true;
      if (data.token !== undefined) {
        const token = data.token;
        delete data.token;
        conn.verifying = verifier.verify(token).then(
          (identity) => {
            conn.verifying = undefined;
            if (conn.closed) return;
            conn.identity = identity;
            onAuthenticated(conn, data.requestedCursor);
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
        conn.sendError('unauthorized', `no authenticate frame within ${config.auth.timeoutMs} ms`);
        conn.close(closes.authTimeout);
      }, config.auth.timeoutMs);
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
      settleAddress(ws.getUserData());
      connections.delete(conn.id);
      feeds.detach(conn);
    }),
  });

  const health = (): GatewayHealth => {
    const components = opts.components?.();
    const up = natsConnected() && commandsConnected() && (components ?? []).every((c) => c.ok);
    return {
      status: draining ? 'draining' : up ? 'ok' : 'degraded',
      gatewayId: config.gatewayId,
      nats: {
        connected: natsConnected(),
        server: nc.getServer(),
        commands: { connected: commandsConnected(), server: commandsNc.getServer() },
      },
      uws: { native: uwsRuntime.native, ...(uwsRuntime.reason ? { reason: uwsRuntime.reason } : {}) },
      connections: connections.size,
      users: feeds.users,
      commands: { backlog: backlog.size, drainPerSec: backlog.drainPerSec === undefined ? null : Math.round(backlog.drainPerSec), overloaded: backlog.overloaded, shedding: backlog.shedding },
      replay: { ...replay.served },
      faults: faults.count,
      ...(components ? { components } : {}),
      uptimeSec: Math.round((Date.now() - startedAt) / 1000),
    };
  };

  const json = (res: HttpResponse, status: string, body: unknown) => {
    res.cork(() => res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify(body)));
  };
  app.get(
    '/health',
    guardHttp(faults, 'health', (res) => {
      const h = health();
      json(res, h.status === 'ok' ? '200 OK' : '503 Service Unavailable', h);
    }),
  );
  app.any(
    '/*',
    guardHttp(faults, 'no route', (res) => json(res, '404 Not Found', { error: errorBody('not_found', 'no such route') })),
  );

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(config.host, config.port, (socket) => (socket ? resolve(socket) : reject(new Error(`cannot listen on ${config.host}:${config.port}`))));
  });
  const port = uWS.us_socket_local_port(listenSocket);
  const url = `ws://${config.host}:${port}/ws`;
  log.info({ url, native: uwsRuntime.native }, 'gateway listening');

  return {
    port,
    url,
    health,
    async stop() {
      draining = true;
      uWS.us_listen_socket_close(listenSocket);
      for (const conn of connections.values()) conn.close(closes.goingAway);
      expiry.stop();
      natsLiveness.stop();
      commandsLiveness.stop();
      admin.stop();
      revocations.stop();
      usageShare.stop();
      outcomes.unsubscribe();
      feeds.close();
      replay.close();
      directGets.close();
      backlog.stop();
      await publisher.close();
      await drainWithin(commandsNc, 5_000, log);
      log.info('gateway stopped');
    },
  };
}

/** Whether a NATS connection is up, as its status events tell; `onReconnect` runs after each reconnect. */
function connectedFlag(nc: NatsConnection, onReconnect?: () => void): () => boolean {
  let connected = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') connected = false;
      if (s.type === 'reconnect') {
        connected = true;
        onReconnect?.();
      }
    }
  })();
  return () => connected && !nc.isClosed();
}
