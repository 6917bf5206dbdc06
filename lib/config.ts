import { randomBytes } from 'node:crypto';
import { limits } from '../schemas/common.js';
import { eventSchemas, userEventSchemas } from '../schemas/events.js';

/**
 * All configuration, from environment variables with defaults in one place. Every variable is
 * listed in README.md ("Configuration"). Bad values fail at start-up with the variable's name.
 */
export type Config = {
  natsUrl: string[];
  prefix: string;
  /** Stream replicas: 1 on one server, 3 on a cluster. */
  replicas: number;
  partitions: number;
  host: string;
  port: number;
  gatewayId: string;
  /**
   * Browser origins allowed to open a WebSocket and to call /v1 (PARLEY_ALLOWED_ORIGINS): exact
   * origins (`https://app.example.com`), or `*` for any (the default, for development). Requests
   * without an Origin header (non-browser clients) are never refused for it.
   */
  allowedOrigins: string[] | '*';
  /** How long an admin request collects the gateways' answers (PARLEY_ADMIN_GATHER_MS). */
  admin: { gatherMs: number };
  /**
   * When /ready says a projector is stuck (app/readiness.ts): more than maxLagEvents events behind
   * the log (PARLEY_READY_MAX_LAG_EVENTS; 0 = any lag) AND its position unmoved for maxLagMs
   * (PARLEY_READY_MAX_LAG_MS). Far behind but moving (a catch-up after a restart) is still ready.
   */
  ready: { maxLagEvents: number; maxLagMs: number };
  auth: {
    secret?: string;
    jwksUrl?: string;
    algorithms: string[];
    issuer?: string;
    audience?: string;
    clockToleranceSec: number;
    /** How long an unauthenticated socket may wait for its `authenticate` frame. */
    timeoutMs: number;
  };
  limits: {
    maxPayloadBytes: number;
    /** A socket whose unsent buffer passes this is closed with 4009 (it resumes from its cursor). */
    maxBackpressureBytes: number;
    idleTimeoutSec: number;
    /** Per connection: token bucket of frames. */
    framesPerSecond: number;
    frameBurst: number;
    /** Bad frames tolerated per minute before the socket is closed with 4008. */
    badFramesPerMinute: number;
    /** Commands and undelivered events waiting beyond which gateways refuse sends with `overloaded`. */
    maxCommandBacklog: number;
    /** The wait (backlog / the rate it drains at) beyond which gateways refuse sends with `overloaded`; 0 = no such limit. */
    maxCommandWaitMs: number;
  };
  /**
   * Abuse limits (gateway/user-limits.ts, gateway/address-limits.ts). Per user: token buckets
   * shared by all of a user's connections and REST calls on a gateway, kept after they close (a
   * reconnect does not refill them), and shared approximately between gateways over NATS. Per
   * address: WebSocket upgrades refused with 429 past a connection rate or a number of sockets
   * not yet authenticated.
   */
  rateLimits: {
    user: {
      /** `message.send` (WebSocket and REST): refill per second and bucket size. */
      sendsPerSecond: number;
      sendBurst: number;
      /** Every frame and REST request of an authenticated user. */
      framesPerSecond: number;
      frameBurst: number;
    };
    address: {
      /** WebSocket upgrade attempts: refill per second and bucket size. */
      connectsPerSecond: number;
      connectBurst: number;
      /** Open sockets not yet authenticated, at once. */
      maxUnauthenticated: number;
    };
    /** Proxies in front of the gateway whose X-Forwarded-For entries are trusted; 0: the socket's address. */
    trustProxyHops: number;
  };
  inbox: { maxAgeSec: number; maxPerUser: number; duplicateWindowSec: number };
  /** snapshotEvery: a conversation is snapshotted after this many events (cold loads read a tail). */
  /**
   * leaseMs (PARLEY_LEASE_MS): how long an engine's (or a delivery projector's) hold on a partition
   * lasts without renewal; a killed process's partitions move to the others within it (lib/leases.ts).
   */
  engine: { ackWaitMs: number; maxAckPending: number; cacheSize: number; snapshotEvery: number; leaseMs: number };
  /**
   * unreadFlushMs: a user's unread counts are written to the KV bucket at most this often
   * (PARLEY_UNREAD_FLUSH_MS). Events wait for that write before they are acked, so maxAckPending
   * must cover what the projector reads in that time.
   * partitions (PARLEY_DELIVERY_PARTITIONS): how many delivery projectors can share the work
   * (by leases, as engines do); every partition's consumer reads the whole event log and projects
   * its own conversations, so each one more costs one more delivery of every event (README "Scale-out").
   */
  delivery: { ackWaitMs: number; maxAckPending: number; unreadFlushMs: number; partitions: number };
  /**
   * The Postgres read models. Without `url` (DATABASE_URL) Parley uses an embedded PGlite under
   * `<dataDir>/pglite`: fine on a laptop, one process only. The postgres projector's ack wait and
   * in-flight limit are the delivery projector's settings.
   */
  postgres: {
    url?: string;
    /** The schema holding the read models (PARLEY_PG_SCHEMA); a rebuild uses `<schema>_rebuild`. */
    schema: string;
    /** Events per projector transaction (PARLEY_PG_BATCH). */
    batchSize: number;
    /** How long a batch may wait to fill before it is written anyway (PARLEY_PG_BATCH_MS). */
    batchMs: number;
  };
  /**
   * How a gateway subscribes to users' live and ephemeral feeds (PARLEY_GATEWAY_FEEDS):
   * `wildcard`, two subscriptions per gateway for every user's traffic, dispatched in-process (no
   * per-user NATS state: the cheapest per connection, but every gateway receives every user's
   * frames); `per-user`, two subscriptions per connected user (traffic only for local users).
   */
  gatewayFeeds: GatewayFeeds;
  /**
   * Typing indicators (gateway/typing.ts): a `typing.start` not renewed within `timeoutMs` is ended
   * by the server (PARLEY_TYPING_TIMEOUT_MS); one connection is typing in at most
   * `maxConversations` at once (PARLEY_TYPING_MAX_CONVERSATIONS); the relays of one connection may
   * reach `fanoutPerSecond` recipients a second (PARLEY_TYPING_FANOUT_PER_SECOND).
   */
  typing: { timeoutMs: number; maxConversations: number; fanoutPerSecond: number };
  /**
   * Presence (gateway/presence-notices.ts, projections/presence/): gateways send a heartbeat every
   * heartbeatMs (PARLEY_PRESENCE_HEARTBEAT_MS); a gateway not heard for leaseMs
   * (PARLEY_PRESENCE_LEASE_MS) is dead; a user with no live gateway left is announced offline after
   * graceMs (PARLEY_PRESENCE_GRACE_MS) unless they come back within it. A killed gateway's users
   * are announced offline within leaseMs + graceMs (+ one check, ≤ 1 s) of its last heartbeat.
   * contactsCacheMs (PARLEY_PRESENCE_CONTACTS_CACHE_MS): how long a user's contacts are remembered
   * for announcements (a new direct conversation counts for presence within this time; a block at
   * once, as the service follows block events). Under churn each user comes and goes every few
   * seconds to minutes, and a shorter time is a read-model query per transition.
   * maxSubscriptions (PARLEY_PRESENCE_MAX_SUBSCRIPTIONS): users one connection may hold
   * presence.subscribe'd at once (gateway/presence-subscriptions.ts), at most 1,000.
   */
  presence: { heartbeatMs: number; leaseMs: number; graceMs: number; contactsCacheMs: number; maxSubscriptions: number };
  /**
   * Push to users with no open connection (projections/push/, PROTOCOL.md "Push to offline users").
   * vapid: PARLEY_VAPID_PUBLIC_KEY / PARLEY_VAPID_PRIVATE_KEY (base64url, as web-push generates
   * them) and PARLEY_VAPID_SUBJECT (mailto: or https:); without them `parley start` makes a pair
   * under the data folder and says so. allowInsecure (PARLEY_PUSH_ALLOW_INSECURE=1): endpoints may
   * be plain http on loopback (development and tests only). The rest: see README "Configuration".
   */
  push: {
    /** PARLEY_PUSH=0 turns the push projector and sender off (the subscription routes stay). */
    enabled: boolean;
    vapid?: { publicKey: string; privateKey: string; subject: string };
    allowInsecure: boolean;
    maxSubscriptionsPerUser: number;
    ttlSec: number;
    previewChars: number;
    coalesceMs: number;
    timeoutMs: number;
    maxAttempts: number;
    jobMaxAgeSec: number;
    logPerUser: number;
    logMaxAgeSec: number;
    /** events: event types forwarded as `event.<Type>` webhooks (PARLEY_WEBHOOK_EVENTS); outboxMax: PARLEY_WEBHOOK_OUTBOX_MAX. */
    webhook?: { url: string; secret: string; events: string[]; outboxMax: number };
  };
  /**
   * The browser demo (gateway/demo-routes.ts): GET /demo, its files and the SDK bundled for
   * browsers, and POST /demo/token (PARLEY_DEMO=on|off). Unset: on exactly when neither
   * PARLEY_JWT_SECRET nor PARLEY_JWKS_URL is set, i.e. when `parley start` falls back to the
   * development secret. Tokens are minted only while that secret is the one in use, whatever this says.
   */
  demo: { enabled: boolean };
  logLevel: string;
  dataDir: string;
  /**
   * The ops HTTP server of roles without a gateway (app/ops-server.ts: /metrics, /health, /ready):
   * PARLEY_METRICS_PORT (0: a free port; `off`: none, port null) on PARLEY_METRICS_HOST.
   * Roles with a gateway serve them on the gateway's port.
   */
  metrics: { port: number | null; host: string };
};

export const gatewayFeedModes = ['wildcard', 'per-user'] as const;
export type GatewayFeeds = (typeof gatewayFeedModes)[number];

/** The dev secret `npm start` uses when none is configured; start-up says so loudly. */
export const DEV_JWT_SECRET = 'parley-dev-secret-do-not-use-in-production';

export function defaultConfig(): Config {
  return {
    natsUrl: ['nats://127.0.0.1:4222'],
    prefix: 'chat',
    replicas: 1,
    partitions: 8,
    host: '127.0.0.1',
    port: 8080,
    gatewayId: `gw-${randomBytes(4).toString('hex')}`,
    allowedOrigins: '*',
    admin: { gatherMs: 500 },
    ready: { maxLagEvents: 10_000, maxLagMs: 30_000 },
    auth: { algorithms: ['HS256'], clockToleranceSec: 5, timeoutMs: 10_000 },
    limits: {
      maxPayloadBytes: 64 * 1024,
      maxBackpressureBytes: 1024 * 1024,
      idleTimeoutSec: 60,
      framesPerSecond: 100,
      frameBurst: 200,
      badFramesPerMinute: 30,
      maxCommandBacklog: 20_000,
      maxCommandWaitMs: 2_000,
    },
    rateLimits: {
      // A person types a message or two a second at most; a bot posting a batch may burst.
      user: { sendsPerSecond: 10, sendBurst: 50, framesPerSecond: 200, frameBurst: 400 },
      // Generous, for many users behind one NAT (an office reconnecting after a gateway restart).
      address: { connectsPerSecond: 50, connectBurst: 200, maxUnauthenticated: 100 },
      trustProxyHops: 0,
    },
    inbox: { maxAgeSec: 30 * 24 * 3600, maxPerUser: 10_000, duplicateWindowSec: 120 },
    engine: { ackWaitMs: 10_000, maxAckPending: 2_000, cacheSize: 50_000, snapshotEvery: 200, leaseMs: 10_000 },
    delivery: { ackWaitMs: 10_000, maxAckPending: 10_000, unreadFlushMs: 1_000, partitions: 1 },
    postgres: { schema: 'parley', batchSize: 2000, batchMs: 50 },
    gatewayFeeds: 'wildcard',
    // Clients renew every 2–3 s; 20 conversations at once is more than a person types in.
    typing: { timeoutMs: 5_000, maxConversations: 20, fanoutPerSecond: 2_000 },
    presence: { heartbeatMs: 5_000, leaseMs: 15_000, graceMs: 5_000, contactsCacheMs: 60_000, maxSubscriptions: 200 },
    push: {
      enabled: true,
      allowInsecure: false,
      maxSubscriptionsPerUser: 10,
      // A day: a phone off for the night still hears of the message; older news is in the inbox.
      ttlSec: 86_400,
      previewChars: 100,
      // One push per conversation per half minute for a user who is away from a busy group.
      coalesceMs: 30_000,
      timeoutMs: 10_000,
      maxAttempts: 5,
      jobMaxAgeSec: 86_400,
      logPerUser: 200,
      logMaxAgeSec: 7 * 86_400,
    },
    demo: { enabled: false },
    logLevel: 'info',
    dataDir: '.parley',
    metrics: { port: 9464, host: '127.0.0.1' },
  };
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  return value;
}

function str(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new Error(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

function onOff(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name);
  return raw === undefined ? fallback : oneOf(env, name, ['on', 'off'] as const, 'off') === 'on';
}

/** A plain lower-case identifier, short enough that `<schema>_rebuild` is one too. */
function pgSchema(value: string): string {
  if (!/^[a-z_][a-z0-9_]{0,47}$/.test(value)) {
    throw new Error(`PARLEY_PG_SCHEMA must be lower-case letters, digits and _ (max 48), got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * `*`, or a comma-separated list of origins as browsers send them: scheme, host and port only
 * (no path, no trailing slash), compared exactly, so a typo fails here rather than refusing users.
 */
function origins(env: Env, name: string, fallback: string[] | '*'): string[] | '*' {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const list = raw.split(',').map((o) => o.trim()).filter(Boolean);
  if (list.length === 1 && list[0] === '*') return '*';
  if (list.length === 0 || list.includes('*')) throw new Error(`${name} must be * or a list of origins, got ${JSON.stringify(raw)}`);
  for (const origin of list) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin) {
      throw new Error(`${name}: ${JSON.stringify(origin)} is not an origin like https://app.example.com (lower-case, no path or trailing slash)`);
    }
  }
  return list;
}

/** PARLEY_WEBHOOK_EVENTS: a comma-separated list of event types of the log, checked here so a typo fails at start. */
function webhookEvents(env: Env): string[] {
  const list = (str(env, 'PARLEY_WEBHOOK_EVENTS') ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  const known = [...Object.keys(eventSchemas), ...Object.keys(userEventSchemas)];
  const unknown = list.filter((e) => !known.includes(e));
  if (unknown.length > 0) throw new Error(`PARLEY_WEBHOOK_EVENTS: unknown event types ${unknown.join(', ')} (known: ${known.join(', ')})`);
  return [...new Set(list)];
}

function pushConfig(env: Env, d: Config['push']): Config['push'] {
  const publicKey = str(env, 'PARLEY_VAPID_PUBLIC_KEY');
  const privateKey = str(env, 'PARLEY_VAPID_PRIVATE_KEY');
  const subject = str(env, 'PARLEY_VAPID_SUBJECT');
  if ((publicKey === undefined) !== (privateKey === undefined)) throw new Error('set both PARLEY_VAPID_PUBLIC_KEY and PARLEY_VAPID_PRIVATE_KEY, or neither');
  if (publicKey !== undefined && !/^[A-Za-z0-9_-]{87}$/.test(publicKey)) throw new Error('PARLEY_VAPID_PUBLIC_KEY must be a base64url P-256 public key (87 characters)');
  if (privateKey !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(privateKey)) throw new Error('PARLEY_VAPID_PRIVATE_KEY must be a base64url P-256 private key (43 characters)');
  if (subject !== undefined && !/^(mailto:\S+@\S+|https:\/\/\S+)$/.test(subject)) throw new Error('PARLEY_VAPID_SUBJECT must be a mailto: or https: URL');
  const url = str(env, 'PARLEY_WEBHOOK_URL');
  const secret = str(env, 'PARLEY_WEBHOOK_SECRET');
  if (url !== undefined && secret === undefined) throw new Error('PARLEY_WEBHOOK_URL needs PARLEY_WEBHOOK_SECRET (whsec_<base64>) to sign with');
  if (url !== undefined && !/^https?:\/\//.test(url)) throw new Error('PARLEY_WEBHOOK_URL must be an http(s) URL');
  if (secret !== undefined && !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret)) throw new Error('PARLEY_WEBHOOK_SECRET must be whsec_ followed by base64');
  return {
    enabled: str(env, 'PARLEY_PUSH') !== '0',
    ...(publicKey !== undefined && privateKey !== undefined
      ? { vapid: { publicKey, privateKey, subject: subject ?? 'mailto:parley@example.invalid' } }
      : {}),
    allowInsecure: str(env, 'PARLEY_PUSH_ALLOW_INSECURE') === '1',
    maxSubscriptionsPerUser: int(env, 'PARLEY_PUSH_MAX_SUBSCRIPTIONS', d.maxSubscriptionsPerUser, 1),
    ttlSec: int(env, 'PARLEY_PUSH_TTL_S', d.ttlSec, 0),
    previewChars: int(env, 'PARLEY_PUSH_PREVIEW_CHARS', d.previewChars, 0),
    coalesceMs: int(env, 'PARLEY_PUSH_COALESCE_MS', d.coalesceMs, 0),
    timeoutMs: int(env, 'PARLEY_PUSH_TIMEOUT_MS', d.timeoutMs, 100),
    maxAttempts: int(env, 'PARLEY_PUSH_MAX_ATTEMPTS', d.maxAttempts, 1),
    jobMaxAgeSec: int(env, 'PARLEY_PUSH_JOB_MAX_AGE_S', d.jobMaxAgeSec, 60),
    logPerUser: int(env, 'PARLEY_PUSH_LOG_PER_USER', d.logPerUser, 1),
    logMaxAgeSec: int(env, 'PARLEY_PUSH_LOG_MAX_AGE_S', d.logMaxAgeSec, 60),
    ...(url !== undefined && secret !== undefined ? { webhook: { url, secret, events: webhookEvents(env), outboxMax: int(env, 'PARLEY_WEBHOOK_OUTBOX_MAX', 100_000, 1) } } : {}),
  };
}

export function loadConfig(env: Env = process.env): Config {
  const d = defaultConfig();
  const algorithms = (str(env, 'PARLEY_JWT_ALGORITHMS') ?? (str(env, 'PARLEY_JWKS_URL') ? 'RS256,ES256,EdDSA' : 'HS256'))
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (algorithms.some((a) => a.toLowerCase() === 'none')) throw new Error('PARLEY_JWT_ALGORITHMS must not include none');
  const config: Config = {
    natsUrl: (str(env, 'PARLEY_NATS_URL') ?? d.natsUrl.join(',')).split(',').map((s) => s.trim()),
    prefix: str(env, 'PARLEY_PREFIX') ?? d.prefix,
    replicas: int(env, 'PARLEY_REPLICAS', d.replicas, 1),
    partitions: int(env, 'PARLEY_PARTITIONS', d.partitions, 1),
    host: str(env, 'PARLEY_HOST') ?? d.host,
    port: int(env, 'PARLEY_PORT', d.port),
    gatewayId: str(env, 'PARLEY_GATEWAY_ID') ?? d.gatewayId,
    allowedOrigins: origins(env, 'PARLEY_ALLOWED_ORIGINS', d.allowedOrigins),
    admin: { gatherMs: int(env, 'PARLEY_ADMIN_GATHER_MS', d.admin.gatherMs, 10) },
    ready: {
      maxLagEvents: int(env, 'PARLEY_READY_MAX_LAG_EVENTS', d.ready.maxLagEvents),
      maxLagMs: int(env, 'PARLEY_READY_MAX_LAG_MS', d.ready.maxLagMs, 1_000),
    },
    auth: {
      secret: str(env, 'PARLEY_JWT_SECRET'),
      jwksUrl: str(env, 'PARLEY_JWKS_URL'),
      algorithms,
      issuer: str(env, 'PARLEY_JWT_ISSUER'),
      audience: str(env, 'PARLEY_JWT_AUDIENCE'),
      clockToleranceSec: int(env, 'PARLEY_JWT_CLOCK_TOLERANCE_S', d.auth.clockToleranceSec),
      timeoutMs: int(env, 'PARLEY_AUTH_TIMEOUT_MS', d.auth.timeoutMs, 1),
    },
    limits: {
      maxPayloadBytes: int(env, 'PARLEY_MAX_PAYLOAD', d.limits.maxPayloadBytes, 256),
      maxBackpressureBytes: int(env, 'PARLEY_MAX_BACKPRESSURE', d.limits.maxBackpressureBytes, 1024),
      idleTimeoutSec: int(env, 'PARLEY_IDLE_TIMEOUT_S', d.limits.idleTimeoutSec, 8),
      framesPerSecond: int(env, 'PARLEY_FRAMES_PER_SECOND', d.limits.framesPerSecond, 1),
      frameBurst: int(env, 'PARLEY_FRAME_BURST', d.limits.frameBurst, 1),
      badFramesPerMinute: int(env, 'PARLEY_BAD_FRAMES_PER_MINUTE', d.limits.badFramesPerMinute, 1),
      maxCommandBacklog: int(env, 'PARLEY_MAX_COMMAND_BACKLOG', d.limits.maxCommandBacklog, 1),
      maxCommandWaitMs: int(env, 'PARLEY_MAX_COMMAND_WAIT_MS', d.limits.maxCommandWaitMs, 0),
    },
    rateLimits: {
      user: {
        sendsPerSecond: int(env, 'PARLEY_USER_SENDS_PER_SECOND', d.rateLimits.user.sendsPerSecond, 1),
        sendBurst: int(env, 'PARLEY_USER_SEND_BURST', d.rateLimits.user.sendBurst, 1),
        framesPerSecond: int(env, 'PARLEY_USER_FRAMES_PER_SECOND', d.rateLimits.user.framesPerSecond, 1),
        frameBurst: int(env, 'PARLEY_USER_FRAME_BURST', d.rateLimits.user.frameBurst, 1),
      },
      address: {
        connectsPerSecond: int(env, 'PARLEY_ADDRESS_CONNECTS_PER_SECOND', d.rateLimits.address.connectsPerSecond, 1),
        connectBurst: int(env, 'PARLEY_ADDRESS_CONNECT_BURST', d.rateLimits.address.connectBurst, 1),
        maxUnauthenticated: int(env, 'PARLEY_ADDRESS_MAX_UNAUTHENTICATED', d.rateLimits.address.maxUnauthenticated, 1),
      },
      trustProxyHops: int(env, 'PARLEY_TRUST_PROXY', d.rateLimits.trustProxyHops, 0),
    },
    inbox: {
      maxAgeSec: int(env, 'PARLEY_INBOX_MAX_AGE_S', d.inbox.maxAgeSec, 1),
      maxPerUser: int(env, 'PARLEY_INBOX_MAX_PER_USER', d.inbox.maxPerUser, 1),
      duplicateWindowSec: int(env, 'PARLEY_INBOX_DUPLICATE_WINDOW_S', d.inbox.duplicateWindowSec, 1),
    },
    engine: {
      ackWaitMs: int(env, 'PARLEY_ENGINE_ACK_WAIT_MS', d.engine.ackWaitMs, 1000),
      maxAckPending: int(env, 'PARLEY_ENGINE_MAX_ACK_PENDING', d.engine.maxAckPending, 1),
      cacheSize: int(env, 'PARLEY_ENGINE_CACHE_SIZE', d.engine.cacheSize, 1),
      snapshotEvery: int(env, 'PARLEY_SNAPSHOT_EVERY', d.engine.snapshotEvery, 1),
      leaseMs: int(env, 'PARLEY_LEASE_MS', d.engine.leaseMs, 300),
    },
    delivery: {
      ackWaitMs: int(env, 'PARLEY_DELIVERY_ACK_WAIT_MS', d.delivery.ackWaitMs, 1000),
      maxAckPending: int(env, 'PARLEY_DELIVERY_MAX_ACK_PENDING', d.delivery.maxAckPending, 1),
      unreadFlushMs: int(env, 'PARLEY_UNREAD_FLUSH_MS', d.delivery.unreadFlushMs, 1),
      partitions: int(env, 'PARLEY_DELIVERY_PARTITIONS', d.delivery.partitions, 1),
    },
    postgres: {
      url: str(env, 'DATABASE_URL'),
      schema: pgSchema(str(env, 'PARLEY_PG_SCHEMA') ?? d.postgres.schema),
      batchSize: int(env, 'PARLEY_PG_BATCH', d.postgres.batchSize, 1),
      batchMs: int(env, 'PARLEY_PG_BATCH_MS', d.postgres.batchMs, 1),
    },
    gatewayFeeds: oneOf(env, 'PARLEY_GATEWAY_FEEDS', gatewayFeedModes, d.gatewayFeeds),
    typing: {
      timeoutMs: int(env, 'PARLEY_TYPING_TIMEOUT_MS', d.typing.timeoutMs, 100),
      maxConversations: int(env, 'PARLEY_TYPING_MAX_CONVERSATIONS', d.typing.maxConversations, 1),
      fanoutPerSecond: int(env, 'PARLEY_TYPING_FANOUT_PER_SECOND', d.typing.fanoutPerSecond, 1),
    },
    presence: {
      heartbeatMs: int(env, 'PARLEY_PRESENCE_HEARTBEAT_MS', d.presence.heartbeatMs, 10),
      leaseMs: int(env, 'PARLEY_PRESENCE_LEASE_MS', d.presence.leaseMs, 20),
      graceMs: int(env, 'PARLEY_PRESENCE_GRACE_MS', d.presence.graceMs, 0),
      contactsCacheMs: int(env, 'PARLEY_PRESENCE_CONTACTS_CACHE_MS', d.presence.contactsCacheMs, 0),
      maxSubscriptions: int(env, 'PARLEY_PRESENCE_MAX_SUBSCRIPTIONS', d.presence.maxSubscriptions, 0),
    },
    push: pushConfig(env, d.push),
    demo: { enabled: onOff(env, 'PARLEY_DEMO', str(env, 'PARLEY_JWT_SECRET') === undefined && str(env, 'PARLEY_JWKS_URL') === undefined) },
    logLevel: str(env, 'PARLEY_LOG_LEVEL') ?? d.logLevel,
    dataDir: str(env, 'PARLEY_DATA_DIR') ?? d.dataDir,
    metrics: {
      port: str(env, 'PARLEY_METRICS_PORT') === 'off' ? null : int(env, 'PARLEY_METRICS_PORT', d.metrics.port ?? 9464),
      host: str(env, 'PARLEY_METRICS_HOST') ?? d.metrics.host,
    },
  };
  if (config.metrics.port !== null && config.metrics.port > 65_535) throw new Error(`PARLEY_METRICS_PORT must be a port (0-65535) or off, got ${config.metrics.port}`);
  // Each partition's consumer reads every event: past a few, more of them cost more than they share.
  if (config.delivery.partitions > 64) {
    throw new Error(`PARLEY_DELIVERY_PARTITIONS must be at most 64, got ${config.delivery.partitions}`);
  }
  // An event waits up to unreadFlushMs for its unread write before its ack: within ack wait, or
  // every busy event would be redelivered.
  if (config.delivery.unreadFlushMs * 2 > config.delivery.ackWaitMs) {
    throw new Error(
      `PARLEY_UNREAD_FLUSH_MS (${config.delivery.unreadFlushMs}) must be at most half of PARLEY_DELIVERY_ACK_WAIT_MS (${config.delivery.ackWaitMs})`,
    );
  }
  // A lease must outlast a lost heartbeat or two, or a live gateway's users would flap offline.
  if (config.presence.leaseMs < config.presence.heartbeatMs * 2) {
    throw new Error(
      `PARLEY_PRESENCE_LEASE_MS (${config.presence.leaseMs}) must be at least twice PARLEY_PRESENCE_HEARTBEAT_MS (${config.presence.heartbeatMs})`,
    );
  }
  // One frame may name at most limits.presenceSubscriptionsMax users (the schema's bound).
  if (config.presence.maxSubscriptions > limits.presenceSubscriptionsMax) {
    throw new Error(`PARLEY_PRESENCE_MAX_SUBSCRIPTIONS must be at most ${limits.presenceSubscriptionsMax}, got ${config.presence.maxSubscriptions}`);
  }
  // With neither secret nor JWKS set, `parley start` decides whether the dev secret is acceptable.
  return config;
}
