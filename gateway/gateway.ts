import type { NatsConnection } from '@nats-io/nats-core';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { PushMuteStore } from '../lib/push-mutes.js';
import { memberSince } from './rest/read-models.js';
import { PushSubscriptionStore } from '../lib/push-subscriptions.js';
import type { us_listen_socket } from 'uWebSockets.js';
import type { Component } from '../lib/component.js';
import type { Config } from '../lib/config.js';
import { DEV_JWT_SECRET } from '../lib/config.js';
import { closes } from '../lib/errors.js';
import { Faults } from '../lib/faults.js';
import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';
import { AddressLimits } from './address-limits.js';
import { GatewayAdmin } from './admin.js';
import { mountRoutes } from './app-routes.js';
import { loadDemoAssets } from './demo-assets.js';
import type { DemoRouteDeps } from './demo-routes.js';
import { createTokenVerifier, type TokenVerifier } from './auth.js';
import { openCommandPath } from './command-path.js';
import type { Connection } from './connection.js';
import { DirectReader } from './direct-get.js';
import { FrameHandler } from './frame-handler.js';
import { healthReport } from './health.js';
import { NatsUp } from '../lib/nats-up.js';
import { decideReadiness, type Readiness } from '../lib/readiness.js';
import { gatewaySources, sends } from './metrics.js';
import { openInboxFeeds } from './inbox-feeds.js';
import { routeOutcomes } from './outcome-routing.js';
import { OriginPolicy } from './origins.js';
import { PresenceNotices } from './presence-notices.js';
import { presenceAsker } from './presence-query.js';
import { PresenceSubscriptions } from './presence-subscriptions.js';
import { OutcomeWaiter } from './rest/outcome-waiter.js';
import type { ReadDb } from './rest/read-models.js';
import { refusingRevoked, Revocations } from './revocations.js';
import { announcedLimits, sessionStarter } from './session-start.js';
import { socketBehavior } from './socket-behavior.js';
import { ConversationMembers } from './conversation-members.js';
import { TokenExpiry } from './token-expiry.js';
import { TypingFeed } from './typing-feed.js';
import { TypingRelay } from './typing-relay.js';
import { cachingVerifier } from './token-cache.js';
import { unreadSummarySender } from './unread-summary.js';
import { SocketAdmission } from './upgrade.js';
import { startUsageShare } from './usage-share.js';
import { UserLimits } from './user-limits.js';
import { uwsForGateway, uwsReport, type UwsReport } from './uws.js';

/** Its stats are what /health shows. */
export type Gateway = Component<GatewayHealth> & {
  port: number;
  url: string;
  /** The browser demo's page (PARLEY_DEMO), when it is served. */
  demoUrl?: string;
};

/** A component's own account of itself, for /health. */
export type ComponentHealth = { name: string; ok: boolean; [detail: string]: unknown };

export type GatewayHealth = {
  status: 'ok' | 'degraded' | 'draining';
  gatewayId: string;
  /** The shared connection (feeds, inbox reads), and the one commands go out on. */
  nats: { connected: boolean; server: string; commands: { connected: boolean; server: string } };
  uws: UwsReport;
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
 * socket that sent the command, and /health. Each part is a file of its own; this is where they
 * are made, in the order they need each other, and stopped.
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
  /** Readiness of the whole process, for /ready (app/readiness.ts); absent: the gateway's own (draining, NATS). */
  ready?: () => Promise<Readiness>;
}): Promise<Gateway> {
  const { nc, config, names } = opts;
  const log = opts.log.child({ component: 'gateway', gatewayId: config.gatewayId });
  // The best uWS build that loads here; the emulation only with PARLEY_ALLOW_UWS_FALLBACK=1 (else this throws).
  const uwsBuild = uwsForGateway();
  const uWS = uwsBuild.uws;
  if (uwsBuild.native) log.info({ uws: uwsReport(uwsBuild) }, `uWebSockets.js: ${uwsBuild.build} (native)`);
  else log.error({ uws: uwsReport(uwsBuild) }, 'uWebSockets.js is running its SLOW ws EMULATION, not a native server (PARLEY_ALLOW_UWS_FALLBACK=1)');
  const faults = new Faults(log);
  // Fails fast when the server has no JetStream (the inbox reads below need it).
  await jetstreamManager(nc);
  // Every token check (upgrade, authenticate, auth.refresh, REST) also refuses revoked tokens; the
  // revocations are all read before the gateway serves.
  const revocations = await Revocations.open(await new Kvm(nc).open(names.buckets.revocations), log);
  // Verified tokens are remembered (token-cache.ts); revocation is still checked on every use.
  const verifier = refusingRevoked(cachingVerifier(opts.verifier ?? createTokenVerifier(config.auth)), revocations);
  const origins = new OriginPolicy(config.allowedOrigins);
  const commands = await openCommandPath(config, names, log);
  const { publisher, backlog } = commands;
  const inbox = openInboxFeeds({ nc, config, names, faults, log });
  const { feeds } = inbox;
  const connections = new Map<string, Connection>();
  const sendUnreadSummary = unreadSummarySender(new DirectReader(inbox.directGets, names.kv.stream(names.buckets.unread)), names, log);
  const startedAt = Date.now();
  let draining = false;
  const natsUp = new NatsUp(nc, () => feeds.recheckAll());
  const commandsUp = new NatsUp(commands.nc);
  /** message.send admission (socket and REST), counted for /metrics. */
  const admitSend = (userId: string): boolean => {
    const admitted = backlog.admit(userId);
    sends.inc(admitted ? 'admitted' : 'overloaded');
    return admitted;
  };

  const expiry = new TokenExpiry(connections, config.auth.clockToleranceSec * 1000);
  const admin = new GatewayAdmin({ nc, names, gatewayId: config.gatewayId, connections, revocations, gatherMs: config.admin.gatherMs, log });
  await admin.start();

  // Abuse limits: per user (kept after connections close, shared with the other gateways) and per address.
  const userLimits = new UserLimits(config.rateLimits.user);
  const usageShare = startUsageShare({ nc, subject: names.subjects.limitsUsage, gatewayId: config.gatewayId, users: userLimits, log });
  const admission = new SocketAdmission({
    origins,
    addresses: new AddressLimits(config.rateLimits.address),
    trustProxyHops: config.rateLimits.trustProxyHops,
    isDraining: () => draining,
  });
  const presence = new PresenceNotices({ nc, names, gatewayId: config.gatewayId, heartbeatMs: config.presence.heartbeatMs, log });
  const onAuthenticated = sessionStarter({ feeds, userLimits, admission, limits: announcedLimits(config), sendUnreadSummary, presence, log });

  // Typing: relayed over core NATS to the members' gateways, which end what they stop hearing of.
  const typingFeed = new TypingFeed({ timeoutMs: config.typing.timeoutMs, connectionsOf: (userId) => feeds.connectionsOf(userId) });
  feeds.handleEphemeral((userId, frame) => typingFeed.offer(userId, frame));
  const members = new ConversationMembers({
    events: new DirectReader(inbox.directGets, names.streams.events),
    kv: new DirectReader(inbox.directGets, names.kv.stream(names.buckets.snapshots)),
    names,
  });
  const typing = new TypingRelay({ nc, names, config: config.typing, audience: members, reject: (conn, code, message, refs) => frames.reject(conn, code, message, refs), log, faults });

  // presence.subscribe: transitions of watched users, from the presence service, to the connections watching them.
  const askPresence = presenceAsker(nc, names);
  const presenceSubs = new PresenceSubscriptions({
    nc,
    names,
    maxPerConnection: config.presence.maxSubscriptions,
    ask: askPresence,
    blocksEither: (a, b) => members.blocksEither(a, b),
    reject: (conn, code, message, refs) => frames.reject(conn, code, message, refs),
    log,
    faults,
  });

  const frames = new FrameHandler({
    names,
    partitions: config.partitions,
    gatewayId: config.gatewayId,
    publisher,
    verifier,
    log,
    onAuthenticated: (conn, ref) => onAuthenticated(conn, conn.ws.getUserData().requestedCursor, ref),
    admitSend,
    userLimits,
    typing,
    presence: presenceSubs,
    onTokenRefreshed: (conn, ref) => {
      conn.send({
        type: 'auth.refreshed',
        ...(ref !== undefined ? { ref } : {}),
        payload: { expiresAt: new Date(conn.identity!.expiresAt).toISOString() },
      });
    },
  });

  const waiter = new OutcomeWaiter();
  const outcomes = routeOutcomes({ nc, subject: names.subjects.reply(config.gatewayId), faults, waiter, connections });

  const health = (): GatewayHealth =>
    healthReport({
      draining,
      gatewayId: config.gatewayId,
      nats: natsUp,
      commandsNats: commandsUp,
      connections: connections.size,
      feeds,
      backlog,
      replay: inbox.replay,
      faults,
      components: opts.components?.(),
      startedAt,
    });

  const ready =
    opts.ready ??
    (async () => {
      const h = health();
      return decideReadiness(
        { stopping: h.status === 'draining', nats: [{ name: 'nats', up: h.nats.connected }, { name: 'nats-commands', up: h.nats.commands.connected }] },
        config.ready,
      );
    });
  const removeMetricsSource = gatewaySources.add({
    connections: () => connections.size,
    users: () => feeds.users,
    backlog: () => backlog.size,
    overloaded: () => backlog.overloaded,
    faults: () => faults.count,
  });

  const demo = config.demo.enabled ? await demoRoutes(config, origins, log, faults) : undefined;

  const app = uWS.App();
  mountRoutes(app, {
    ...(demo ? { demo } : {}),
    rest: {
      verifier,
      submit: (command) => frames.publish(command),
      waiter,
      ...(opts.db ? { db: opts.db } : {}),
      gatewayId: config.gatewayId,
      maxBodyBytes: config.limits.maxPayloadBytes,
      timeoutMs: 10_000,
      admitSend,
      userLimits,
      askPresence,
      origins,
      admin,
      push: {
        store: new PushSubscriptionStore(await new Kvm(nc).open(names.buckets.pushSubscriptions), config.push.maxSubscriptionsPerUser),
        mutes: new PushMuteStore(await new Kvm(nc).open(names.buckets.pushMutes)),
        ...(opts.db ? { isMember: async (conversationId: string, userId: string) => (await memberSince(opts.db!, conversationId, userId)) !== null } : {}),
        ...(config.push.vapid ? { vapidPublicKey: config.push.vapid.publicKey } : {}),
        allowInsecure: config.push.allowInsecure,
        nc,
        names,
      },
      log,
      faults,
    },
    socket: socketBehavior({
      config,
      faults,
      connections,
      admission,
      verifier,
      frames,
      feeds,
      onAuthenticated,
      onClosed: (conn) => {
        typing.closed(conn);
        presence.disconnected(conn);
        presenceSubs.closed(conn);
      },
    }),
    health,
    ready,
    faults,
  });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(config.host, config.port, (socket) => (socket ? resolve(socket) : reject(new Error(`cannot listen on ${config.host}:${config.port}`))));
  });
  const port = uWS.us_socket_local_port(listenSocket);
  const url = `ws://${config.host}:${port}/ws`;
  log.info({ url, native: uwsBuild.native, uwsBuild: uwsBuild.build }, 'gateway listening');

  return {
    port,
    url,
    ...(demo ? { demoUrl: `http://${config.host}:${port}/demo` } : {}),
    stats: health,
    async stop() {
      draining = true;
      removeMetricsSource();
      uWS.us_listen_socket_close(listenSocket);
      // Before the sockets close: one `gone` rather than a notice per user.
      presence.stop();
      for (const conn of connections.values()) conn.close(closes.goingAway);
      // Typers here are stopped for their members before the feeds and NATS go.
      await typing.close();
      typingFeed.close();
      await presenceSubs.stop();
      expiry.stop();
      natsUp.stop();
      commandsUp.stop();
      admin.stop();
      revocations.stop();
      usageShare.stop();
      outcomes.unsubscribe();
      inbox.close();
      await commands.stop();
      log.info('gateway stopped');
    },
  };
}

/**
 * The demo's files, and token minting only while the secret tokens are verified with is the
 * development one: with a real secret (or JWKS) the demo page is served but mints nothing, as
 * anyone may ask it for any user.
 */
async function demoRoutes(config: Config, origins: OriginPolicy, log: Logger, faults: Faults): Promise<DemoRouteDeps> {
  const { auth } = config;
  const devSecret = auth.secret === DEV_JWT_SECRET && auth.jwksUrl === undefined;
  return {
    assets: await loadDemoAssets(log),
    ...(devSecret
      ? {
          mint: {
            secret: DEV_JWT_SECRET,
            ...(auth.issuer !== undefined ? { issuer: auth.issuer } : {}),
            ...(auth.audience !== undefined ? { audience: auth.audience } : {}),
            perSecond: config.rateLimits.address.connectsPerSecond,
            burst: config.rateLimits.address.connectBurst,
            trustProxyHops: config.rateLimits.trustProxyHops,
          },
        }
      : {}),
    origins,
    log,
    faults,
  };
}
