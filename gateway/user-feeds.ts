import type { NatsConnection, Subscription, Msg } from '@nats-io/nats-core';
import { closeCodes } from '../lib/errors.js';
import { decodeJson } from '../lib/json.js';
import type { Logger } from '../lib/log.js';
import { headers, type Names } from '../lib/names.js';
import type { StreamReader } from '../lib/stream-reader.js';
import type { InboxEntry } from '../projections/delivery/inbox-entry.js';
import type { Connection } from './connection.js';

/**
 * One core NATS subscription per connected user on this gateway (`<prefix>.live.<user>`, the
 * inbox's republish), shared by all the user's sockets here. Each socket keeps its own cursor: a
 * live entry whose Nats-Last-Sequence is past the socket's cursor means something was missed (the
 * socket was resuming, or a republish was lost), and the gap is filled from the inbox with Direct
 * Get before the live entry is sent. Entries at or below the cursor are dropped: never twice.
 */
export class UserFeeds {
  readonly #nc: NatsConnection;
  readonly #names: Names;
  readonly #inbox: StreamReader;
  readonly #log: Logger;
  readonly #feeds = new Map<string, { subs: Subscription[]; connections: Set<Connection> }>();

  constructor(nc: NatsConnection, names: Names, inbox: StreamReader, log: Logger) {
    this.#nc = nc;
    this.#names = names;
    this.#inbox = inbox;
    this.#log = log;
  }

  get users(): number {
    return this.#feeds.size;
  }

  /**
   * Subscribe (if this is the user's first socket here) and fix the socket's starting cursor.
   * Without a cursor the socket starts at the inbox's end. With one, it resumes after it — if the
   * inbox still holds the entry at the cursor: retention drops a user's oldest entries first, so
   * then nothing after it is gone. Otherwise entries may be lost, and rather than skip them
   * silently the socket starts at the end and is told `resume.reset` (the client resyncs by REST).
   * Cursor 0 means "everything the inbox holds". Live entries wait until `start` has sent what is
   * stored after the cursor.
   */
  async attach(
    conn: Connection,
    userId: string,
    requestedCursor?: number,
  ): Promise<{ cursor: number; resumed: boolean; reset?: { requestedCursor: number; reason: string } }> {
    let feed = this.#feeds.get(userId);
    if (!feed) {
      const connections = new Set<Connection>();
      const live = this.#nc.subscribe(this.#names.subjects.live(userId), {
        callback: (err, msg) => (err ? this.#log.warn({ err, userId }, 'live subscription error') : this.#onLive(connections, msg)),
      });
      // Ephemeral frames (unread counts, later typing and presence): no seq, no replay.
      const ephemeral = this.#nc.subscribe(this.#names.subjects.ephemeral(userId), {
        callback: (err, msg) => (err ? undefined : this.#onEphemeral(connections, msg)),
      });
      feed = { subs: [live, ephemeral], connections };
      this.#feeds.set(userId, feed);
    }
    conn.catchingUp = true;
    feed.connections.add(conn);
    const subject = this.#names.subjects.inbox(userId);
    const last = await this.#inbox.last(subject);
    const end = last?.seq ?? 0;
    if (requestedCursor === undefined) {
      conn.lastSeq = end;
      return { cursor: end, resumed: false };
    }
    if (requestedCursor > 0) {
      const atCursor = requestedCursor === end ? last : await this.#inbox.bySeq(requestedCursor);
      if (atCursor?.subject !== subject) {
        conn.lastSeq = end;
        const reason = requestedCursor > end ? 'the cursor is past the end of the inbox' : 'the inbox no longer holds entries after this cursor';
        return { cursor: end, resumed: false, reset: { requestedCursor, reason } };
      }
    }
    conn.lastSeq = requestedCursor;
    return { cursor: requestedCursor, resumed: true };
  }

  /** Send what is stored after the socket's cursor, then what arrived live meanwhile. */
  start(conn: Connection): void {
    conn.started = true;
    void this.#catchUp(conn);
  }

  detach(conn: Connection): void {
    const userId = conn.userId;
    if (!userId) return;
    const feed = this.#feeds.get(userId);
    if (!feed) return;
    feed.connections.delete(conn);
    if (feed.connections.size === 0) {
      for (const sub of feed.subs) sub.unsubscribe();
      this.#feeds.delete(userId);
    }
  }

  #onLive(connections: Set<Connection>, msg: Msg): void {
    const seq = Number(msg.headers?.get(headers.sequence));
    const prev = Number(msg.headers?.get(headers.lastSequence) ?? 0);
    if (!Number.isFinite(seq) || seq <= 0) return;
    let entry: InboxEntry;
    try {
      entry = decodeJson<InboxEntry>(msg.data);
    } catch (err) {
      this.#log.error({ err, seq }, 'unreadable inbox entry');
      return;
    }
    for (const conn of connections) this.#offer(conn, seq, prev, entry);
  }

  #onEphemeral(connections: Set<Connection>, msg: Msg): void {
    let frame: object;
    try {
      frame = decodeJson<object>(msg.data);
    } catch {
      return;
    }
    for (const conn of connections) if (conn.started && !conn.closed) conn.send(frame);
  }

  #offer(conn: Connection, seq: number, prev: number, entry: InboxEntry): void {
    if (conn.closed) return;
    if (conn.catchingUp) {
      conn.pending.push({ seq, prev, entry });
      return;
    }
    if (seq <= conn.lastSeq) return;
    if (prev > conn.lastSeq) {
      conn.pending.push({ seq, prev, entry });
      conn.catchingUp = true;
      void this.#catchUp(conn);
      return;
    }
    conn.deliver(seq, entry);
  }

  async #catchUp(conn: Connection): Promise<void> {
    if (conn.catchUpRunning) return;
    conn.catchUpRunning = true;
    conn.catchingUp = true;
    const subject = this.#names.subjects.inbox(conn.userId!);
    try {
      for (;;) {
        for (;;) {
          if (conn.closed) return;
          const stored = await this.#inbox.nextAfter(subject, conn.lastSeq);
          if (!stored) break;
          conn.deliver(stored.seq, decodeJson<InboxEntry>(stored.data));
        }
        // Drain what came live meanwhile; synchronous, so nothing new arrives while it runs.
        const pending = conn.pending.sort((a, b) => a.seq - b.seq);
        conn.pending = [];
        let gapAt = -1;
        for (let i = 0; i < pending.length; i++) {
          const p = pending[i]!;
          if (p.seq <= conn.lastSeq) continue;
          if (p.prev > conn.lastSeq) {
            gapAt = i;
            break;
          }
          conn.deliver(p.seq, p.entry);
        }
        if (gapAt < 0) {
          conn.catchingUp = false;
          return;
        }
        conn.pending = pending.slice(gapAt);
      }
    } catch (err) {
      this.#log.warn({ err, connectionId: conn.id }, 'inbox read failed; closing so the client resumes');
      conn.close(closeCodes.internalError, 'inbox unavailable, resume from your cursor');
    } finally {
      conn.catchUpRunning = false;
    }
  }

  /**
   * After NATS reconnects, live entries published meanwhile were never seen: every socket reads
   * its inbox after its cursor again (a no-op when nothing is missing).
   */
  recheckAll(): void {
    for (const feed of this.#feeds.values()) {
      for (const conn of feed.connections) if (conn.started && !conn.closed) void this.#catchUp(conn);
    }
  }

  close(): void {
    for (const feed of this.#feeds.values()) for (const sub of feed.subs) sub.unsubscribe();
    this.#feeds.clear();
  }
}
