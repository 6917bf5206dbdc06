import type { PresenceNotice } from '../../schemas/index.js';

/**
 * Who is online, as a pure state machine: gateways' notices and the clock go in, announcements
 * (and snapshot requests) come out. No I/O and no timers of its own: the service
 * (presence-service.ts) feeds it and calls `tick` often; tests drive it with any clock.
 *
 * A user is present while a live gateway holds them. A gateway is live while its heartbeats arrive
 * within the lease; past it (SIGKILL, a partition) it is dropped with all its users. A user who
 * stops being present is announced offline only after the grace, unless present again before it:
 * a reconnect (to any gateway) within the grace is silent. A user's devices on several gateways
 * are one presence: offline only when no gateway holds them.
 *
 * Notices are core NATS (at most once): each gateway numbers its notices, and a gap, an unknown
 * gateway, a new epoch (the gateway restarted) or a heartbeat whose user count differs from what
 * the service holds makes it ask that gateway for a snapshot of all its users, which replaces what
 * it held. So a lost notice heals within a heartbeat or two.
 */

export type PresenceTimings = { leaseMs: number; graceMs: number; heartbeatMs: number };

/** online: lastSeen is when they came online; offline: when they left (their last gateway's last sign). */
export type Announcement = { userId: string; online: boolean; lastSeen: number };

export type Effects = { announce: Announcement[]; sync: string[] };

type GatewayState = {
  epoch: string;
  users: Set<string>;
  lastHeard: number;
  lastSeq: number;
  /** When a snapshot was last asked for (-Infinity: never); asked again after a heartbeat interval at most. */
  syncAskedAt: number;
  /** A snapshot being put together: its id and the parts so far. */
  assembling?: { syncId: string; parts: number; got: Map<number, string[]>; seq: number };
};

type UserState = {
  /** What was last announced (and stored). */
  online: boolean;
  lastSeen: number;
  gateways: Set<string>;
  /** Absent while announced online: announced offline at this time unless present again before. */
  offlineAt?: number;
  /** When the user stopped being present (their lastSeen once announced offline). */
  leftAt?: number;
};

export type PresenceStats = { gateways: number; usersOnline: number; pendingOffline: number; syncsAsked: number; gaps: number };

export class PresenceState {
  readonly #t: PresenceTimings;
  readonly #gateways = new Map<string, GatewayState>();
  readonly #users = new Map<string, UserState>();
  /** Users whose offline is pending (a grace running), so a tick looks at them only. */
  readonly #pending = new Set<string>();
  #syncsAsked = 0;
  #gaps = 0;

  constructor(timings: PresenceTimings) {
    this.#t = timings;
  }

  /**
   * After a restart of the service: users stored as online are held as online but absent, with a
   * lease and a grace to be claimed by a gateway's snapshot (every gateway heartbeats within that
   * time, is unknown, and is asked for one). Those no gateway claims are announced offline.
   */
  restore(online: { userId: string; lastSeen: number }[], now: number): void {
    for (const { userId, lastSeen } of online) {
      if (this.#users.has(userId)) continue;
      this.#users.set(userId, { online: true, lastSeen, gateways: new Set(), offlineAt: now + this.#t.leaseMs + this.#t.graceMs, leftAt: now });
      this.#pending.add(userId);
    }
  }

  receive(notice: PresenceNotice, now: number): Effects {
    const fx: Effects = { announce: [], sync: [] };
    let gw = this.#gateways.get(notice.gatewayId);
    if (gw && gw.epoch !== notice.epoch) {
      // The gateway restarted under the same id: what the old one held is gone from it now.
      this.#dropGateway(notice.gatewayId, gw, now, now);
      gw = undefined;
    }
    if (!gw) {
      gw = { epoch: notice.epoch, users: new Set(), lastHeard: now, lastSeq: notice.seq - 1, syncAskedAt: Number.NEGATIVE_INFINITY };
      this.#gateways.set(notice.gatewayId, gw);
      if (notice.type !== 'gone' && !(notice.type === 'snapshot' && notice.part === 0)) this.#askSync(notice.gatewayId, gw, now, fx, true);
    }
    gw.lastHeard = now;
    if (notice.seq <= gw.lastSeq) return fx; // a duplicate or late notice of this epoch: already applied or superseded
    if (notice.seq !== gw.lastSeq + 1) {
      this.#gaps++;
      this.#askSync(notice.gatewayId, gw, now, fx, false);
    }
    gw.lastSeq = notice.seq;
    switch (notice.type) {
      case 'user':
        if (notice.online) this.#addUser(notice.gatewayId, gw, notice.userId, now, fx);
        else this.#removeUser(notice.gatewayId, gw, notice.userId, now, now);
        break;
      case 'heartbeat':
        if (notice.users !== gw.users.size && !gw.assembling) this.#askSync(notice.gatewayId, gw, now, fx, false);
        break;
      case 'snapshot':
        this.#snapshotPart(notice.gatewayId, gw, notice, now, fx);
        break;
      case 'gone':
        this.#dropGateway(notice.gatewayId, gw, now, now);
        break;
    }
    return fx;
  }

  /** Expire gateways past their lease and announce the users whose grace has run out. */
  tick(now: number): Effects {
    const fx: Effects = { announce: [], sync: [] };
    for (const [id, gw] of this.#gateways) {
      // Its users were last known present when it was last heard.
      if (now - gw.lastHeard >= this.#t.leaseMs) this.#dropGateway(id, gw, gw.lastHeard, now);
    }
    for (const userId of this.#pending) {
      const u = this.#users.get(userId)!;
      if (u.gateways.size > 0 || u.offlineAt === undefined) {
        this.#pending.delete(userId);
        continue;
      }
      if (u.offlineAt > now) continue;
      this.#pending.delete(userId);
      // Forgotten once offline, so memory holds the online users only: from now on their presence
      // is the stored one (the service stores this announcement before it publishes it).
      this.#users.delete(userId);
      fx.announce.push({ userId, online: false, lastSeen: u.leftAt ?? now });
    }
    return fx;
  }

  /** As contacts see it: online until the offline is announced. undefined: offline, or never seen here (ask the store). */
  status(userId: string, now: number): { isOnline: boolean; lastSeen: number } | undefined {
    const u = this.#users.get(userId);
    if (!u) return undefined;
    return u.online ? { isOnline: true, lastSeen: now } : { isOnline: false, lastSeen: u.lastSeen };
  }

  /** The gateways holding a user now (tests, stats). */
  gatewaysOf(userId: string): string[] {
    return [...(this.#users.get(userId)?.gateways ?? [])];
  }

  stats(): PresenceStats {
    let usersOnline = 0;
    for (const u of this.#users.values()) if (u.online) usersOnline++;
    return { gateways: this.#gateways.size, usersOnline, pendingOffline: this.#pending.size, syncsAsked: this.#syncsAsked, gaps: this.#gaps };
  }

  #askSync(gatewayId: string, gw: GatewayState, now: number, fx: Effects, force: boolean): void {
    if (!force && now - gw.syncAskedAt < this.#t.heartbeatMs) return;
    if (fx.sync.includes(gatewayId)) return;
    gw.syncAskedAt = now;
    this.#syncsAsked++;
    fx.sync.push(gatewayId);
  }

  #snapshotPart(gatewayId: string, gw: GatewayState, notice: Extract<PresenceNotice, { type: 'snapshot' }>, now: number, fx: Effects): void {
    if (notice.part >= notice.parts) return;
    if (!gw.assembling || gw.assembling.syncId !== notice.syncId || gw.assembling.parts !== notice.parts) {
      gw.assembling = { syncId: notice.syncId, parts: notice.parts, got: new Map(), seq: notice.seq };
    }
    gw.assembling.got.set(notice.part, notice.users);
    if (gw.assembling.got.size < notice.parts) return;
    const users = new Set<string>();
    for (const part of gw.assembling.got.values()) for (const u of part) users.add(u);
    gw.assembling = undefined;
    // The snapshot is the whole truth for this gateway as of its last part (notices are in order).
    for (const userId of [...gw.users]) if (!users.has(userId)) this.#removeUser(gatewayId, gw, userId, now, now);
    for (const userId of users) this.#addUser(gatewayId, gw, userId, now, fx);
  }

  #addUser(gatewayId: string, gw: GatewayState, userId: string, now: number, fx: Effects): void {
    gw.users.add(userId);
    let u = this.#users.get(userId);
    if (!u) this.#users.set(userId, (u = { online: false, lastSeen: now, gateways: new Set() }));
    u.gateways.add(gatewayId);
    if (u.offlineAt !== undefined) {
      // Back within the grace: silent.
      u.offlineAt = undefined;
      u.leftAt = undefined;
      this.#pending.delete(userId);
    }
    if (!u.online) {
      u.online = true;
      u.lastSeen = now;
      fx.announce.push({ userId, online: true, lastSeen: now });
    }
  }

  /** `leftAt`: when the user was last known present on this gateway. */
  #removeUser(gatewayId: string, gw: GatewayState, userId: string, leftAt: number, now: number): void {
    gw.users.delete(userId);
    const u = this.#users.get(userId);
    if (!u || !u.gateways.delete(gatewayId) || u.gateways.size > 0) return;
    if (!u.online) return;
    u.leftAt = leftAt;
    u.offlineAt = now + this.#t.graceMs;
    this.#pending.add(userId);
  }

  #dropGateway(gatewayId: string, gw: GatewayState, leftAt: number, now: number): void {
    this.#gateways.delete(gatewayId);
    for (const userId of gw.users) this.#removeUser(gatewayId, gw, userId, leftAt, now);
  }
}
