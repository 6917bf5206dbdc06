import t from 'tap';
import { DEV_JWT_SECRET, defaultConfig, loadConfig } from '../../lib/config.js';
import { directConversationId, newId, sendCommandId } from '../../lib/ids.js';
import { KeyedQueue } from '../../lib/keyed-queue.js';
import { LruMap } from '../../lib/lru.js';
import { directGet, isSubjectToken, makeNames } from '../../lib/names.js';
import { aggregateKey, commandPartition, partitionOf } from '../../lib/partition.js';
import { block, send } from '../helpers/decider-spec.js';

t.test('partitionOf', async (t) => {
  t.test('stable and in range', async (t) => {
    for (const id of ['g_1', 'd_abc', 'x', '']) {
      for (const n of [1, 2, 8, 13]) {
        const p = partitionOf(id, n);
        t.equal(partitionOf(id, n), p, `stable: ${id} / ${n}`);
        t.ok(Number.isInteger(p) && p >= 0 && p < n, `in range: ${id} / ${n} → ${p}`);
      }
    }
  });

  t.test('a command is partitioned by the key the engine queues it by', async (t) => {
    const blocking = block('alice', 'bob');
    t.equal(aggregateKey(blocking), 'user:alice');
    t.equal(commandPartition(blocking, 13), partitionOf('user:alice', 13), 'a user command: by user:<id>, not the bare id');
    const sending = send('alice', 'g_1');
    t.equal(commandPartition(sending, 13), partitionOf('g_1', 13), 'a conversation command: by its conversation');
  });

  t.test('pinned values: every gateway and engine must agree (FNV-1a 32-bit)', async (t) => {
    // FNV-1a("") = 0x811c9dc5, FNV-1a("a") = 0xe40c292c.
    t.equal(partitionOf('', 1 << 30), 0x811c9dc5 % (1 << 30));
    t.equal(partitionOf('a', 0x7fffffff), 0xe40c292c % 0x7fffffff);
    t.equal(partitionOf('a', 8), 0xe40c292c % 8);
  });

  t.test('spreads 10k ids over 8 partitions, none empty', async (t) => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 10_000; i++) counts[partitionOf(newId('g'), 8)]! += 1;
    t.equal(
      counts.reduce((a, b) => a + b, 0),
      10_000,
    );
    t.ok(
      counts.every((c) => c > 0),
      `no partition empty: ${counts.join(',')}`,
    );
    t.ok(
      counts.every((c) => c > 1_000 && c < 1_500),
      `roughly even (1250 each): ${counts.join(',')}`,
    );
  });
});

t.test('names', async (t) => {
  t.test('the default prefix is chat', async (t) => {
    const n = makeNames();
    t.equal(n.prefix, 'chat');
    t.strictSame(n.streams, { events: 'CHAT_EVENTS', inbox: 'CHAT_INBOX', pushJobs: 'CHAT_PUSH_JOBS', pushLog: 'CHAT_PUSH_LOG', webhooks: 'CHAT_WEBHOOKS' });
    t.equal(n.commandStreams.partition(3), 'CHAT_CMD_3');
    t.equal(n.commandStreams.legacy, 'CHAT_CMD');
    t.ok(n.commandStreams.isPartition('CHAT_CMD_0') && n.commandStreams.isPartition('CHAT_CMD_15'), 'partition streams');
    for (const other of ['CHAT_CMD', 'CHAT_CMD_', 'CHAT_CMD_EVENTS', 'CHAT_CMD_1x', 'CHATX_CMD_1', 'CHAT_EVENTS']) {
      t.notOk(n.commandStreams.isPartition(other), `not a partition stream: ${other} (e.g. prefix chat_cmd's streams)`);
    }
    t.strictSame(n.buckets, { snapshots: 'CHAT_SNAPSHOTS', unread: 'CHAT_UNREAD', revocations: 'CHAT_REVOKED', presence: 'CHAT_PRESENCE', pushSubscriptions: 'CHAT_PUSH_SUBS', pushMutes: 'CHAT_PUSH_MUTES', engineLeases: 'CHAT_LEASES_ENGINE', deliveryLeases: 'CHAT_LEASES_DELIVERY', pushLeases: 'CHAT_LEASES_PUSH', postgresLeases: 'CHAT_LEASES_POSTGRES', pushSenderLeases: 'CHAT_LEASES_PUSH_SENDER', webhookLeases: 'CHAT_LEASES_WEBHOOKS', mirrorLeases: 'CHAT_LEASES_MIRROR', presenceLeases: 'CHAT_LEASES_PRESENCE' });
    t.equal(n.subjects.presenceSync('gw-1'), 'chat.presence.sync.gw-1');
    t.equal(n.subjects.command(3), 'chat.cmd.3');
    t.equal(n.subjects.commandsAll, 'chat.cmd.*');
    t.equal(n.subjects.conversationEvents('g_1'), 'chat.ev.conv.g_1');
    t.equal(n.subjects.userEvents('alice'), 'chat.ev.user.alice');
    t.equal(n.subjects.eventsAll, 'chat.ev.>');
    t.equal(n.subjects.inbox('alice'), 'chat.inbox.alice');
    t.equal(n.subjects.live('alice'), 'chat.live.alice');
    t.equal(n.subjects.ephemeral('alice'), 'chat.eph.alice');
    t.equal(n.subjects.reply('gw-1'), 'chat.reply.gw-1');
    t.equal(n.subjects.limitsUsage, 'chat.limits.usage');
    t.equal(n.consumers.enginePartition(2), 'engine-p2');
    t.equal(n.consumers.eventStoreMirror, 'eventstore-mirror');
    t.equal(n.consumers.pushPartition(3, 4), 'push-p3-of-4');
    t.ok(n.consumers.isPush('push') && n.consumers.isPush('push-p0-of-1') && n.consumers.isPush('push-p12-of-16'), 'push projector durables, the legacy one included');
    for (const other of ['push-sender', 'delivery-p0-of-1', 'push-p0-of-', 'push-px-of-2']) t.notOk(n.consumers.isPush(other), `not a push projector durable: ${other}`);
    t.equal(directGet.get('CHAT_EVENTS'), '$JS.API.DIRECT.GET.CHAT_EVENTS');
    t.equal(directGet.lastBySubject('KV_CHAT_UNREAD', '$KV.CHAT_UNREAD.alice'), '$JS.API.DIRECT.GET.KV_CHAT_UNREAD.$KV.CHAT_UNREAD.alice');
  });

  t.test('prefix validation', async (t) => {
    for (const ok of ['a', 't0a1b2', 'my_app', 'a'.repeat(32)]) {
      t.equal(makeNames(ok).prefix, ok, `accepts ${ok}`);
    }
    t.equal(makeNames('t_1').streams.events, 'T_1_EVENTS');
    for (const bad of ['', 'Chat', '1chat', '_chat', 'chat.x', 'chat-x', 'chat x', 'chat*', 'a'.repeat(33)]) {
      t.throws(() => makeNames(bad), /^invalid prefix /, `refuses ${JSON.stringify(bad)}`);
    }
  });

  t.test('subject tokens: letters, digits, _ and -, 1–128 chars', async (t) => {
    const { subjects } = makeNames();
    for (const ok of ['a', 'A-z_09', 'x'.repeat(128)]) t.equal(isSubjectToken(ok), true, `token: ${ok.slice(0, 12)}`);
    for (const bad of ['', 'a.b', 'a*', 'a>', '>', 'a b', 'a\tb', 'é', 'x'.repeat(129)]) {
      t.equal(isSubjectToken(bad), false, `not a token: ${JSON.stringify(bad.slice(0, 12))}`);
      t.throws(() => subjects.conversationEvents(bad), /invalid conversation id for a subject token/);
      t.throws(() => subjects.userEvents(bad), /invalid user id for a subject token/);
      t.throws(() => subjects.inbox(bad), /invalid user id/);
      t.throws(() => subjects.live(bad), /invalid user id/);
      t.throws(() => subjects.ephemeral(bad), /invalid user id/);
      t.throws(() => subjects.reply(bad), /invalid gateway id/);
    }
  });

  t.test('conversationOfSubject', async (t) => {
    const { subjects } = makeNames('chat');
    t.equal(subjects.conversationOfSubject('chat.ev.conv.g_1'), 'g_1');
    t.equal(subjects.conversationOfSubject(subjects.conversationEvents('d_x-Y')), 'd_x-Y', 'round trip');
    t.equal(subjects.conversationOfSubject('chat.ev.user.alice'), undefined);
    t.equal(subjects.conversationOfSubject('other.ev.conv.g_1'), undefined, 'another prefix');
    t.equal(subjects.conversationOfSubject('chat2.ev.conv.g_1'), undefined, 'a longer prefix');
    t.equal(makeNames('chat2').subjects.conversationOfSubject('chat.ev.conv.g_1'), undefined);
  });
});

t.test('ids', async (t) => {
  t.test('newId: prefix, 10 time chars, 16 random chars, Crockford base32', async (t) => {
    t.match(newId('m'), /^m_[0-9A-HJKMNP-TV-Z]{26}$/);
    t.match(newId('conn'), /^conn_[0-9A-HJKMNP-TV-Z]{26}$/);
    t.equal(newId('x', 0).slice(2, 12), '0000000000');
    t.equal(newId('x', 1).slice(2, 12), '0000000001');
    t.equal(newId('x', 32).slice(2, 12), '0000000010');
    t.equal(newId('x', 1_700_000_000_000).slice(2, 12), '01HF7YAT00');
    t.ok(isSubjectToken(newId('m')));
  });

  t.test('newId sorts by time', async (t) => {
    const times = [0, 1, 31, 32, 999, 1_000, 1_700_000_000_000, 1_700_000_000_001, Date.UTC(2100, 0, 1)];
    const ids = times.map((ms) => newId('m', ms));
    t.strictSame([...ids].sort(), ids);
  });

  t.test('newId: 10k ids in one millisecond are distinct', async (t) => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newId('m', 5)));
    t.equal(ids.size, 10_000);
  });

  t.test('directConversationId: symmetric, deterministic, token-safe, pair-specific', async (t) => {
    const ab = directConversationId('alice', 'bob');
    t.equal(directConversationId('bob', 'alice'), ab);
    t.equal(directConversationId('alice', 'bob'), ab);
    t.match(ab, /^d_[A-Za-z0-9_-]{27}$/);
    t.ok(isSubjectToken(ab));
    t.not(directConversationId('alice', 'carol'), ab);
    t.not(directConversationId('a', 'bc'), directConversationId('ab', 'c'), 'no ambiguity in the pair encoding');
    t.not(directConversationId('alice', 'alice'), ab);
  });

  t.test('sendCommandId is <userId>:<tempId>', async (t) => {
    t.equal(sendCommandId('alice', 't-1'), 'alice:t-1');
  });
});

t.test('loadConfig', async (t) => {
  t.test('defaults', async (t) => {
    const config = loadConfig({});
    t.match(config.gatewayId, /^gw-[0-9a-f]{8}$/);
    t.strictSame(config, {
      natsUrl: ['nats://127.0.0.1:4222'],
      prefix: 'chat',
      replicas: 1,
      partitions: 8,
      host: '127.0.0.1',
      port: 8080,
      gatewayId: config.gatewayId,
      auth: {
        secret: undefined,
        jwksUrl: undefined,
        algorithms: ['HS256'],
        issuer: undefined,
        audience: undefined,
        clockToleranceSec: 5,
        timeoutMs: 10_000,
      },
      limits: {
        maxPayloadBytes: 65_536,
        maxBackpressureBytes: 1_048_576,
        idleTimeoutSec: 60,
        framesPerSecond: 100,
        frameBurst: 200,
        badFramesPerMinute: 30,
        maxCommandBacklog: 20_000,
        maxCommandWaitMs: 2_000,
      },
      rateLimits: {
        user: { sendsPerSecond: 10, sendBurst: 50, framesPerSecond: 200, frameBurst: 400 },
        address: { connectsPerSecond: 50, connectBurst: 200, maxUnauthenticated: 100 },
        trustProxyHops: 0,
      },
      inbox: { maxAgeSec: 2_592_000, maxPerUser: 10_000, duplicateWindowSec: 120 },
      engine: { ackWaitMs: 10_000, maxAckPending: 2_000, cacheSize: 50_000, snapshotEvery: 200, leaseMs: 10_000 },
      delivery: { ackWaitMs: 10_000, maxAckPending: 10_000, unreadFlushMs: 1_000, partitions: 1 },
      postgres: { url: undefined, schema: 'parley', batchSize: 2000, batchMs: 50 },
      gatewayFeeds: 'wildcard',
      typing: { timeoutMs: 5_000, maxConversations: 20, fanoutPerSecond: 2_000 },
      presence: { heartbeatMs: 5_000, leaseMs: 15_000, graceMs: 5_000, contactsCacheMs: 60_000, maxSubscriptions: 200 },
      push: {
        enabled: true,
        allowInsecure: false,
        maxSubscriptionsPerUser: 10,
        ttlSec: 86_400,
        previewChars: 100,
        coalesceMs: 30_000,
        timeoutMs: 10_000,
        maxAttempts: 5,
        jobMaxAgeSec: 86_400,
        logPerUser: 200,
        logMaxAgeSec: 604_800,
      },
      logLevel: 'info',
      dataDir: '.parley',
      metrics: { port: 9464, host: '127.0.0.1' },
      allowedOrigins: '*',
      admin: { gatherMs: 500 },
      ready: { maxLagEvents: 10_000, maxLagMs: 30_000 },
      // No secret configured: `parley start` uses the development one, and the demo is on with it.
      demo: { enabled: true },
    });
    // defaultConfig() keeps the demo off (what a configuration built in code, with its own secret, wants).
    t.same(config, { ...defaultConfig(), gatewayId: config.gatewayId, demo: { enabled: true } }, 'the same values as defaultConfig(), but the demo');
    t.not(loadConfig({}).gatewayId, config.gatewayId, 'a fresh gateway id each time');
    t.equal(config.auth.secret, undefined, 'no secret by default: not even the dev one');
    t.not(DEV_JWT_SECRET, '');
  });

  t.test('an empty variable means the default', async (t) => {
    const config = loadConfig({ PARLEY_PORT: '', PARLEY_PREFIX: '', PARLEY_JWT_SECRET: '' });
    t.equal(config.port, 8080);
    t.equal(config.prefix, 'chat');
    t.equal(config.auth.secret, undefined);
  });

  t.test('every variable overrides its default', async (t) => {
    const config = loadConfig({
      PARLEY_NATS_URL: 'nats://a:4222, nats://b:4222',
      PARLEY_PREFIX: 'p1',
      PARLEY_REPLICAS: '3',
      PARLEY_PARTITIONS: '16',
      PARLEY_HOST: '0.0.0.0',
      PARLEY_PORT: '9000',
      PARLEY_GATEWAY_ID: 'gw-a',
      PARLEY_JWT_SECRET: 's3cret',
      PARLEY_JWKS_URL: 'https://id.test/jwks.json',
      PARLEY_JWT_ALGORITHMS: 'RS256, ES256',
      PARLEY_JWT_ISSUER: 'iss',
      PARLEY_JWT_AUDIENCE: 'aud',
      PARLEY_JWT_CLOCK_TOLERANCE_S: '0',
      PARLEY_AUTH_TIMEOUT_MS: '500',
      PARLEY_MAX_PAYLOAD: '1024',
      PARLEY_MAX_BACKPRESSURE: '2048',
      PARLEY_IDLE_TIMEOUT_S: '30',
      PARLEY_FRAMES_PER_SECOND: '5',
      PARLEY_FRAME_BURST: '10',
      PARLEY_BAD_FRAMES_PER_MINUTE: '3',
      PARLEY_MAX_COMMAND_BACKLOG: '500',
      PARLEY_MAX_COMMAND_WAIT_MS: '0',
      PARLEY_USER_SENDS_PER_SECOND: '2',
      PARLEY_USER_SEND_BURST: '4',
      PARLEY_USER_FRAMES_PER_SECOND: '20',
      PARLEY_USER_FRAME_BURST: '40',
      PARLEY_ADDRESS_CONNECTS_PER_SECOND: '3',
      PARLEY_ADDRESS_CONNECT_BURST: '6',
      PARLEY_ADDRESS_MAX_UNAUTHENTICATED: '7',
      PARLEY_TRUST_PROXY: '1',
      PARLEY_INBOX_MAX_AGE_S: '60',
      PARLEY_INBOX_MAX_PER_USER: '100',
      PARLEY_INBOX_DUPLICATE_WINDOW_S: '120',
      PARLEY_ENGINE_ACK_WAIT_MS: '5000',
      PARLEY_ENGINE_MAX_ACK_PENDING: '10',
      PARLEY_ENGINE_CACHE_SIZE: '20',
      PARLEY_SNAPSHOT_EVERY: '50',
      PARLEY_LEASE_MS: '4000',
      PARLEY_DELIVERY_ACK_WAIT_MS: '7000',
      PARLEY_DELIVERY_MAX_ACK_PENDING: '30',
      PARLEY_UNREAD_FLUSH_MS: '200',
      PARLEY_DELIVERY_PARTITIONS: '3',
      DATABASE_URL: 'postgres://u:p@db:5432/chat',
      PARLEY_PG_SCHEMA: 'read_models',
      PARLEY_PG_BATCH: '100',
      PARLEY_PG_BATCH_MS: '10',
      PARLEY_GATEWAY_FEEDS: 'per-user',
      PARLEY_TYPING_TIMEOUT_MS: '300',
      PARLEY_TYPING_MAX_CONVERSATIONS: '3',
      PARLEY_TYPING_FANOUT_PER_SECOND: '50',
      PARLEY_PRESENCE_HEARTBEAT_MS: '1000',
      PARLEY_PRESENCE_LEASE_MS: '3000',
      PARLEY_PRESENCE_GRACE_MS: '2000',
      PARLEY_PRESENCE_CONTACTS_CACHE_MS: '500',
      PARLEY_PRESENCE_MAX_SUBSCRIPTIONS: '50',
      PARLEY_LOG_LEVEL: 'debug',
      PARLEY_DATA_DIR: '/var/parley',
      PARLEY_METRICS_PORT: '9100',
      PARLEY_METRICS_HOST: '0.0.0.0',
      PARLEY_ALLOWED_ORIGINS: 'https://a.test,https://b.test:8443',
      PARLEY_ADMIN_GATHER_MS: '250',
      PARLEY_READY_MAX_LAG_EVENTS: '500',
      PARLEY_READY_MAX_LAG_MS: '5000',
      PARLEY_VAPID_PUBLIC_KEY: `B${'a'.repeat(86)}`,
      PARLEY_VAPID_PRIVATE_KEY: 'k'.repeat(43),
      PARLEY_VAPID_SUBJECT: 'mailto:ops@a.test',
      PARLEY_PUSH_ALLOW_INSECURE: '1',
      PARLEY_PUSH_MAX_SUBSCRIPTIONS: '2',
      PARLEY_PUSH_TTL_S: '60',
      PARLEY_PUSH_PREVIEW_CHARS: '0',
      PARLEY_PUSH_COALESCE_MS: '1000',
      PARLEY_PUSH_TIMEOUT_MS: '2000',
      PARLEY_PUSH_MAX_ATTEMPTS: '3',
      PARLEY_PUSH_JOB_MAX_AGE_S: '600',
      PARLEY_PUSH_LOG_PER_USER: '20',
      PARLEY_PUSH_LOG_MAX_AGE_S: '3600',
      PARLEY_WEBHOOK_URL: 'https://app.a.test/hooks/parley',
      PARLEY_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      PARLEY_WEBHOOK_EVENTS: 'MessageSent, MessageRead,MessageSent',
      PARLEY_WEBHOOK_OUTBOX_MAX: '500',
      PARLEY_PUSH: '0',
      PARLEY_DEMO: 'on',
    });
    t.strictSame(config, {
      natsUrl: ['nats://a:4222', 'nats://b:4222'],
      prefix: 'p1',
      replicas: 3,
      partitions: 16,
      host: '0.0.0.0',
      port: 9000,
      gatewayId: 'gw-a',
      auth: {
        secret: 's3cret',
        jwksUrl: 'https://id.test/jwks.json',
        algorithms: ['RS256', 'ES256'],
        issuer: 'iss',
        audience: 'aud',
        clockToleranceSec: 0,
        timeoutMs: 500,
      },
      limits: {
        maxPayloadBytes: 1024,
        maxBackpressureBytes: 2048,
        idleTimeoutSec: 30,
        framesPerSecond: 5,
        frameBurst: 10,
        badFramesPerMinute: 3,
        maxCommandBacklog: 500,
        maxCommandWaitMs: 0,
      },
      rateLimits: {
        user: { sendsPerSecond: 2, sendBurst: 4, framesPerSecond: 20, frameBurst: 40 },
        address: { connectsPerSecond: 3, connectBurst: 6, maxUnauthenticated: 7 },
        trustProxyHops: 1,
      },
      inbox: { maxAgeSec: 60, maxPerUser: 100, duplicateWindowSec: 120 },
      engine: { ackWaitMs: 5000, maxAckPending: 10, cacheSize: 20, snapshotEvery: 50, leaseMs: 4000 },
      delivery: { ackWaitMs: 7000, maxAckPending: 30, unreadFlushMs: 200, partitions: 3 },
      postgres: { url: 'postgres://u:p@db:5432/chat', schema: 'read_models', batchSize: 100, batchMs: 10 },
      gatewayFeeds: 'per-user',
      typing: { timeoutMs: 300, maxConversations: 3, fanoutPerSecond: 50 },
      presence: { heartbeatMs: 1000, leaseMs: 3000, graceMs: 2000, contactsCacheMs: 500, maxSubscriptions: 50 },
      push: {
        enabled: false,
        vapid: { publicKey: `B${'a'.repeat(86)}`, privateKey: 'k'.repeat(43), subject: 'mailto:ops@a.test' },
        allowInsecure: true,
        maxSubscriptionsPerUser: 2,
        ttlSec: 60,
        previewChars: 0,
        coalesceMs: 1000,
        timeoutMs: 2000,
        maxAttempts: 3,
        jobMaxAgeSec: 600,
        logPerUser: 20,
        logMaxAgeSec: 3600,
        webhook: { url: 'https://app.a.test/hooks/parley', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', events: ['MessageSent', 'MessageRead'], outboxMax: 500 },
      },
      logLevel: 'debug',
      dataDir: '/var/parley',
      metrics: { port: 9100, host: '0.0.0.0' },
      allowedOrigins: ['https://a.test', 'https://b.test:8443'],
      admin: { gatherMs: 250 },
      ready: { maxLagEvents: 500, maxLagMs: 5_000 },
      demo: { enabled: true },
    });
  });

  t.test('push settings that cannot work fail at start, naming the variable', async (t) => {
    const pub = `B${'a'.repeat(86)}`;
    t.throws(() => loadConfig({ PARLEY_VAPID_PUBLIC_KEY: pub }), /both PARLEY_VAPID_PUBLIC_KEY and PARLEY_VAPID_PRIVATE_KEY/);
    t.throws(() => loadConfig({ PARLEY_VAPID_PUBLIC_KEY: 'short', PARLEY_VAPID_PRIVATE_KEY: 'k'.repeat(43) }), /^PARLEY_VAPID_PUBLIC_KEY/);
    t.throws(() => loadConfig({ PARLEY_VAPID_PUBLIC_KEY: pub, PARLEY_VAPID_PRIVATE_KEY: 'k'.repeat(43), PARLEY_VAPID_SUBJECT: 'ops' }), /^PARLEY_VAPID_SUBJECT/);
    t.throws(() => loadConfig({ PARLEY_WEBHOOK_URL: 'https://a.test/h' }), /needs PARLEY_WEBHOOK_SECRET/);
    t.throws(() => loadConfig({ PARLEY_WEBHOOK_URL: 'ftp://a.test/h', PARLEY_WEBHOOK_SECRET: 'whsec_AAAA' }), /^PARLEY_WEBHOOK_URL/);
    t.throws(() => loadConfig({ PARLEY_WEBHOOK_URL: 'https://a.test/h', PARLEY_WEBHOOK_SECRET: 'plain' }), /^PARLEY_WEBHOOK_SECRET/);
    t.equal(loadConfig({ PARLEY_PUSH_ALLOW_INSECURE: 'yes' }).push.allowInsecure, false, 'only 1 turns insecure endpoints on');
    t.throws(() => loadConfig({ PARLEY_WEBHOOK_URL: 'https://a.test/h', PARLEY_WEBHOOK_SECRET: 'whsec_AAAA', PARLEY_WEBHOOK_EVENTS: 'MessageSent,MesageRead' }), /unknown event types MesageRead/);
  });

  t.test('PARLEY_METRICS_PORT: off means no ops server, 0 a free port, past 65535 fails', async (t) => {
    t.equal(loadConfig({ PARLEY_METRICS_PORT: 'off' }).metrics.port, null);
    t.equal(loadConfig({ PARLEY_METRICS_PORT: '0' }).metrics.port, 0);
    t.throws(() => loadConfig({ PARLEY_METRICS_PORT: '70000' }), /PARLEY_METRICS_PORT/);
    t.throws(() => loadConfig({ PARLEY_METRICS_PORT: 'on' }), /PARLEY_METRICS_PORT/);
  });

  t.test('a JWKS URL without algorithms defaults to the asymmetric ones', async (t) => {
    t.strictSame(loadConfig({ PARLEY_JWKS_URL: 'https://id.test/jwks.json' }).auth.algorithms, ['RS256', 'ES256', 'EdDSA']);
  });

  t.test('a bad integer fails, naming the variable', async (t) => {
    t.throws(() => loadConfig({ PARLEY_PORT: '80x' }), { message: 'PARLEY_PORT must be an integer ≥ 0, got "80x"' });
    t.throws(() => loadConfig({ PARLEY_PORT: '-1' }), /^PARLEY_PORT must be an integer/);
    t.throws(() => loadConfig({ PARLEY_PARTITIONS: '1.5' }), /^PARLEY_PARTITIONS must be an integer ≥ 1/);
    t.throws(() => loadConfig({ PARLEY_PARTITIONS: '0' }), { message: 'PARLEY_PARTITIONS must be an integer ≥ 1, got "0"' });
    t.throws(() => loadConfig({ PARLEY_ENGINE_ACK_WAIT_MS: '999' }), /^PARLEY_ENGINE_ACK_WAIT_MS must be an integer ≥ 1000/);
    t.throws(() => loadConfig({ PARLEY_PG_SCHEMA: 'Bad-Name' }), /^PARLEY_PG_SCHEMA must be lower-case letters/);
    t.throws(() => loadConfig({ PARLEY_PG_BATCH: '0' }), /^PARLEY_PG_BATCH must be an integer ≥ 1/);
    t.throws(() => loadConfig({ PARLEY_DELIVERY_ACK_WAIT_MS: '10' }), /^PARLEY_DELIVERY_ACK_WAIT_MS must be an integer ≥ 1000/);
    t.throws(() => loadConfig({ PARLEY_MAX_PAYLOAD: 'lots' }), /^PARLEY_MAX_PAYLOAD /);
    t.throws(() => loadConfig({ PARLEY_UNREAD_FLUSH_MS: '0' }), /^PARLEY_UNREAD_FLUSH_MS must be an integer ≥ 1/);
    t.throws(() => loadConfig({ PARLEY_DELIVERY_PARTITIONS: '0' }), /^PARLEY_DELIVERY_PARTITIONS must be an integer ≥ 1/);
    t.throws(() => loadConfig({ PARLEY_DELIVERY_PARTITIONS: '65' }), /^PARLEY_DELIVERY_PARTITIONS must be at most 64/);
    // Events wait for their unread write before they are acked: the wait must fit in the ack wait.
    t.throws(() => loadConfig({ PARLEY_UNREAD_FLUSH_MS: '6000' }), {
      message: 'PARLEY_UNREAD_FLUSH_MS (6000) must be at most half of PARLEY_DELIVERY_ACK_WAIT_MS (10000)',
    });
    t.throws(() => loadConfig({ PARLEY_TYPING_TIMEOUT_MS: '99' }), /^PARLEY_TYPING_TIMEOUT_MS must be an integer ≥ 100/);
    t.throws(() => loadConfig({ PARLEY_TYPING_MAX_CONVERSATIONS: '0' }), /^PARLEY_TYPING_MAX_CONVERSATIONS must be an integer ≥ 1/);
    // A lease shorter than two heartbeats would drop live gateways' users after one late heartbeat.
    t.throws(() => loadConfig({ PARLEY_PRESENCE_LEASE_MS: '9000' }), {
      message: 'PARLEY_PRESENCE_LEASE_MS (9000) must be at least twice PARLEY_PRESENCE_HEARTBEAT_MS (5000)',
    });
    t.throws(() => loadConfig({ PARLEY_PRESENCE_MAX_SUBSCRIPTIONS: '1001' }), { message: 'PARLEY_PRESENCE_MAX_SUBSCRIPTIONS must be at most 1000, got 1001' });
    t.throws(() => loadConfig({ PARLEY_PRESENCE_HEARTBEAT_MS: '5' }), /^PARLEY_PRESENCE_HEARTBEAT_MS must be an integer ≥ 10/);
    t.strictSame(loadConfig({ PARLEY_PRESENCE_HEARTBEAT_MS: '100', PARLEY_PRESENCE_LEASE_MS: '300', PARLEY_PRESENCE_GRACE_MS: '0' }).presence, {
      heartbeatMs: 100,
      leaseMs: 300,
      graceMs: 0,
      contactsCacheMs: 60_000,
      maxSubscriptions: 200,
    });
    t.throws(() => loadConfig({ PARLEY_GATEWAY_FEEDS: 'shared' }), { message: 'PARLEY_GATEWAY_FEEDS must be one of wildcard, per-user, got "shared"' });
  });

  t.test("the 'none' algorithm is refused, in any case", async (t) => {
    for (const algorithms of ['none', 'HS256,none', 'HS256, NONE', 'None']) {
      t.throws(() => loadConfig({ PARLEY_JWT_ALGORITHMS: algorithms }), { message: 'PARLEY_JWT_ALGORITHMS must not include none' }, algorithms);
    }
  });
});

t.test('LruMap', async (t) => {
  t.test('bounded by count: the least recently used goes', async (t) => {
    const lru = new LruMap<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    lru.set('c', 3);
    t.equal(lru.size, 2);
    t.equal(lru.get('a'), undefined, 'a, the oldest, was evicted');
    t.equal(lru.get('b'), 2);
    t.equal(lru.get('c'), 3);
  });

  t.test('get makes an entry the newest', async (t) => {
    const lru = new LruMap<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    t.equal(lru.get('a'), 1);
    lru.set('c', 3);
    t.equal(lru.get('b'), undefined, 'b was the least recently used');
    t.equal(lru.get('a'), 1);
  });

  t.test('set of an existing key replaces it and makes it the newest', async (t) => {
    const lru = new LruMap<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    lru.set('a', 10);
    t.equal(lru.size, 2);
    lru.set('c', 3);
    t.equal(lru.get('a'), 10);
    t.equal(lru.get('b'), undefined);
  });

  t.test('delete', async (t) => {
    const lru = new LruMap<string, number>(3);
    lru.set('a', 1);
    lru.delete('a');
    lru.delete('missing');
    t.equal(lru.size, 0);
    t.equal(lru.get('a'), undefined);
  });
});

/** A promise with its resolve/reject exposed. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
const tick = () => new Promise<void>((r) => setImmediate(r));

t.test('KeyedQueue', async (t) => {
  t.test('the same key runs one task at a time, in order', async (t) => {
    const q = new KeyedQueue();
    const log: string[] = [];
    const first = deferred();
    const a = q.run('k', async () => {
      log.push('a start');
      await first.promise;
      log.push('a end');
      return 'A';
    });
    const b = q.run('k', async () => {
      log.push('b start');
      return 'B';
    });
    await tick();
    t.strictSame(log, ['a start'], 'b waits for a');
    first.resolve();
    t.equal(await a, 'A');
    t.equal(await b, 'B');
    t.strictSame(log, ['a start', 'a end', 'b start']);
  });

  t.test('different keys interleave', async (t) => {
    const q = new KeyedQueue();
    const log: string[] = [];
    const gate = deferred();
    const a = q.run('k1', async () => {
      log.push('k1 start');
      await gate.promise;
      log.push('k1 end');
    });
    const b = q.run('k2', async () => {
      log.push('k2 ran');
    });
    await b;
    t.strictSame(log, ['k1 start', 'k2 ran'], 'k2 did not wait for k1');
    gate.resolve();
    await a;
    t.strictSame(log, ['k1 start', 'k2 ran', 'k1 end']);
  });

  t.test('a failing task rejects its own promise and does not block the next', async (t) => {
    const q = new KeyedQueue();
    const failing = q.run('k', async () => {
      throw new Error('boom');
    });
    const next = q.run('k', async () => 'next ran');
    await t.rejects(failing, { message: 'boom' });
    t.equal(await next, 'next ran');
  });

  t.test('a task that throws synchronously is a rejection too', async (t) => {
    const q = new KeyedQueue();
    const failing = q.run('k', () => {
      throw new Error('sync boom');
    });
    await t.rejects(failing, { message: 'sync boom' });
    t.equal(await q.run('k', async () => 1), 1);
  });

  t.test('idle waits for every task; finished keys are forgotten', async (t) => {
    const q = new KeyedQueue();
    const done: string[] = [];
    const gate = deferred();
    void q.run('a', async () => {
      await gate.promise;
      done.push('a');
    });
    void q.run('b', async () => {
      done.push('b');
    });
    t.equal(q.size, 2);
    const idle = q.idle();
    setImmediate(() => gate.resolve());
    await idle;
    t.strictSame(done.sort(), ['a', 'b']);
    await tick();
    t.equal(q.size, 0);
  });
});
