import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { Kvm } from '@nats-io/kv';
import type { Component } from '../../lib/component.js';
import type { Config } from '../../lib/config.js';
import type { Database } from '../../lib/pg.js';
import { decodeJson, encodeJson } from '../../lib/json.js';
import { KeyedQueue } from '../../lib/keyed-queue.js';
import type { Logger } from '../../lib/log.js';
import type { Names } from '../../lib/names.js';
import { compile, PresenceNotice, PresenceQueryRequest, PresenceStatusRequest, type PresenceStatus, type PresenceTransition } from '../../schemas/index.js';
import { ContactCache, lastSeenOf, readContacts, RecentBlocks } from './contacts.js';
import { queryPresence, unseen } from './presence-query.js';
import { PresenceState, type Announcement, type Effects, type PresenceStats } from './presence-state.js';
import { PresenceStore } from './presence-store.js';
import { presenceSources } from '../metrics.js';

export type PresenceServiceStats = PresenceStats & {
  notices: number;
  /** Notices dropped as unreadable or not of the schema: each one is a bug or a stranger on the subject. */
  invalid: number;
  announced: number;
  statusAnswered: number;
  queriesAnswered: number;
  storeFailures: number;
};

export type PresenceService = Component<PresenceServiceStats>;

const validateNotice = compile(PresenceNotice);
const validateStatusRequest = compile(PresenceStatusRequest);
const validateQueryRequest = compile(PresenceQueryRequest);

/** The JSON value of a message off the wire, or undefined when it is not JSON (never throws). */
function jsonOrUndefined(data: Uint8Array): unknown {
  try {
    return decodeJson(data);
  } catch {
    return undefined;
  }
}

/** Parse and validate one notice off the wire; undefined when it is not one (never throws). */
export function readNotice(data: Uint8Array): PresenceNotice | undefined {
  const checked = validateNotice(jsonOrUndefined(data));
  return checked.ok ? checked.value : undefined;
}

/** A block or unblock off the log (anything else, or anything malformed: undefined; never throws). */
export function readBlockChange(data: Uint8Array): { userId: string; otherId: string; blocked: boolean } | undefined {
  const e = jsonOrUndefined(data) as { type?: unknown; userId?: unknown; data?: { blockedUserId?: unknown } } | null | undefined;
  if ((e?.type !== 'UserBlocked' && e?.type !== 'UserUnblocked') || typeof e.userId !== 'string' || typeof e.data?.blockedUserId !== 'string') return undefined;
  return { userId: e.userId, otherId: e.data.blockedUserId, blocked: e.type === 'UserBlocked' };
}

/**
 * The presence service: follows the gateways' notices (presence-state.ts decides), announces
 * `user.online` / `user.offline` to each user's contacts on their ephemeral subjects (which every
 * gateway forwards to all of that user's connections), stores each transition (presence-store.ts)
 * and answers the gateways' status requests for `status.bulk` and their presence queries
 * (presence.subscribe, GET /v1/presence). Each transition is also published once on the user's
 * own subject for the gateways watching them (presence.subscribe). One per installation, like the
 * projectors; it runs in the roles that run them.
 */
export async function startPresenceService(opts: { nc: NatsConnection; config: Config; names: Names; db: Database; log: Logger }): Promise<PresenceService> {
  const { nc, config, names, db } = opts;
  const log = opts.log.child({ component: 'presence' });
  const state = new PresenceState(config.presence);
  const kv = await new Kvm(nc).open(names.buckets.presence);
  const store = new PresenceStore(kv, db.pool, db.schema, log);
  const blocks = new RecentBlocks();
  const contacts = new ContactCache((userId) => readContacts(db.pool, db.schema, userId), config.presence.contactsCacheMs);
  // One user's announcements go out in the order they were decided.
  const queue = new KeyedQueue();
  const counts = { notices: 0, invalid: 0, announced: 0, statusAnswered: 0, queriesAnswered: 0 };

  state.restore(await store.readOnline(), Date.now());

  const announce = async (a: Announcement): Promise<void> => {
    const lastSeen = new Date(a.lastSeen).toISOString();
    const frame = encodeJson({ type: a.online ? 'user.online' : 'user.offline', payload: { userId: a.userId, isOnline: a.online, lastSeen } });
    // Stored and announced side by side: neither waits for the other (a user's next transition waits for both).
    const told = contacts.get(a.userId).then(
      (all) => {
        const list = blocks.filter(a.userId, all);
        for (const c of list) nc.publish(names.subjects.ephemeral(c.userId), frame);
        // Once more for presence.subscribe, naming whom the frame already reached (they are skipped there).
        const transition: PresenceTransition = { userId: a.userId, isOnline: a.online, lastSeen, told: list.map((c) => c.userId) };
        nc.publish(names.subjects.presenceUser(a.userId), encodeJson(transition));
        counts.announced++;
      },
      (err: unknown) => log.warn({ err, userId: a.userId }, 'could not read contacts; presence not announced'),
    );
    await Promise.all([store.write(a.userId, { isOnline: a.online, lastSeen: a.lastSeen }), told]);
  };

  const apply = (fx: Effects): void => {
    for (const gatewayId of fx.sync) nc.publish(names.subjects.presenceSync(gatewayId));
    for (const a of fx.announce) {
      void queue.run(a.userId, () => announce(a)).catch((err: unknown) => log.error({ err, userId: a.userId }, 'presence announcement failed'));
    }
  };

  const guarded = (what: string, fn: (msg: Msg) => void) => (err: Error | null, msg: Msg) => {
    if (err) return log.warn({ err }, `${what} subscription error`);
    try {
      fn(msg);
    } catch (e) {
      log.error({ err: e }, `${what}: unexpected error`);
    }
  };

  const subs: Subscription[] = [
    nc.subscribe(names.subjects.presenceNotices, {
      callback: guarded('presence notices', (msg) => {
        counts.notices++;
        const notice = readNotice(msg.data);
        if (!notice) {
          counts.invalid++;
          return;
        }
        apply(state.receive(notice, Date.now()));
      }),
    }),
    // Every block and unblock as it is appended (core NATS sees what JetStream stores): a block
    // hides presence at once rather than after the read models and the contacts' cache.
    nc.subscribe(names.subjects.userEventsAll, {
      callback: guarded('block events', (msg) => {
        const change = readBlockChange(msg.data);
        if (!change) return;
        if (change.blocked) blocks.blocked(change.userId, change.otherId);
        else blocks.unblocked(change.userId, change.otherId);
        contacts.forget(change.userId);
        contacts.forget(change.otherId);
      }),
    }),
    nc.subscribe(names.subjects.presenceStatus, {
      queue: 'presence',
      callback: guarded('presence status', (msg) => {
        const checked = validateStatusRequest(jsonOrUndefined(msg.data));
        if (!checked.ok) return void msg.respond(encodeJson({ error: checked.message }));
        void statusOf(checked.value.userId).then(
          (users) => {
            counts.statusAnswered++;
            msg.respond(encodeJson({ users }));
          },
          (err: unknown) => log.warn({ err }, 'could not answer a status request'),
        );
      }),
    }),
    nc.subscribe(names.subjects.presenceQuery, {
      queue: 'presence',
      callback: guarded('presence query', (msg) => {
        const checked = validateQueryRequest(jsonOrUndefined(msg.data));
        if (!checked.ok) return void msg.respond(encodeJson({ error: checked.message }));
        const now = Date.now();
        const asker = checked.value.userId;
        void queryPresence(db.pool, db.schema, (userId) => state.status(userId, now), asker, checked.value.users).then(
          (answered) => {
            counts.queriesAnswered++;
            // What the read models may not have yet: a block just made, a transition in the next batch.
            const users = answered.map((u) => {
              if (blocks.between(asker, u.userId, now)) return unseen(u.userId);
              const unwritten = u.isOnline ? undefined : store.unwritten(u.userId);
              return unwritten ? { ...u, lastSeen: new Date(unwritten.lastSeen).toISOString() } : u;
            });
            msg.respond(encodeJson({ users }));
          },
          // No answer: the asker times out and says so (unavailable), rather than be told something wrong.
          (err: unknown) => log.warn({ err }, 'could not answer a presence query'),
        );
      }),
    }),
  ];

  async function statusOf(userId: string): Promise<PresenceStatus[]> {
    // The contacts from the cache (a block just made is taken out by `blocks`): a fresh join per
    // connect held a pool connection each, and a reconnect storm queued announcements behind them.
    const list = blocks.filter(userId, await contacts.get(userId));
    const now = Date.now();
    const live = list.map((c) => state.status(c.userId, now));
    // The others are offline (online users are held, restored into the state at start): when they
    // were last seen is read fresh, the batch on its way to the read model first.
    const offline = list.filter((c, i) => !live[i] && !store.unwritten(c.userId)).map((c) => c.userId);
    const stored = offline.length ? await lastSeenOf(db.pool, db.schema, offline) : new Map<string, Date>();
    return list.map((c, i) => {
      const held = live[i];
      if (held) return { userId: c.userId, isOnline: held.isOnline, lastSeen: new Date(held.lastSeen).toISOString() };
      const unwritten = store.unwritten(c.userId);
      const lastSeen = unwritten ? new Date(unwritten.lastSeen) : stored.get(c.userId);
      return { userId: c.userId, isOnline: false, lastSeen: lastSeen ? lastSeen.toISOString() : null };
    });
  }

  // Often enough that the lease and grace are kept to within a fraction of the shorter one.
  const tickMs = Math.max(20, Math.min(1_000, Math.floor(Math.min(config.presence.leaseMs, config.presence.graceMs || config.presence.leaseMs) / 4)));
  const ticker = setInterval(() => {
    try {
      apply(state.tick(Date.now()));
    } catch (err) {
      log.error({ err }, 'presence tick failed');
    }
  }, tickMs);
  log.info({ ...config.presence, tickMs }, 'presence service started');
  const removeMetricsSource = presenceSources.add({ usersOnline: () => state.stats().usersOnline, gateways: () => state.stats().gateways });

  return {
    stats: () => ({ ...state.stats(), ...counts, storeFailures: store.failures }),
    async stop() {
      removeMetricsSource();
      clearInterval(ticker);
      for (const s of subs) s.unsubscribe();
      await queue.idle();
      await store.flush();
    },
  };
}
