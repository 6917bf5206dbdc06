import type { Msg } from '@nats-io/nats-core';
import { closes } from '../lib/errors.js';
import { decodeJson } from '../lib/json.js';
import { decodeInboxEntry } from '../lib/inbox-entry-bytes.js';
import type { Logger } from '../lib/log.js';
import { headers, type Names } from '../lib/names.js';
import { parseUnreadHeader, type UnreadCount } from '../lib/unread-header.js';
import type { InboxEntry } from '../schemas/index.js';
import type { Connection } from './connection.js';
import type { DirectReader } from './direct-get.js';
import type { FeedSubscriptions } from './feed-subscriptions.js';
import type { InboxReplay } from './inbox-replay.js';
import { UnreadFrames } from './unread-frames.js';

/** What `attach` decided for a socket. `end`: the user's last inbox seq when it looked. */
export type AttachResult = { cursor: number; resumed: boolean; end: number; reset?: { requestedCursor: number; reason: string } };

/**
 * The connected users of this gateway and their sockets, fed from the users' live inbox
 * republish (`<prefix>.live.<user>`) and ephemeral subject (see feed-subscriptions.ts). Each
 * socket keeps its own cursor: a live entry whose Nats-Last-Sequence is past the socket's cursor
 * means something was missed (the socket was resuming, or a republish was lost), and the gap is
 * filled from the inbox before the live entry is sent. Entries at or below the cursor are dropped:
 * never twice.
 */
export class UserFeeds {
  readonly #names: Names;
  readonly #inbox: DirectReader;
  readonly #replay: InboxReplay;
  readonly #log: Logger;
  /** One socket (the common case, and no Set to pay for) or several. */
  readonly #users = new Map<string, Connection | Set<Connection>>();
  #subscriptions?: FeedSubscriptions;
  /** Ephemeral frames it handles (typing: gateway/typing-feed.ts) are not forwarded as they are. */
  #ephemeralHandler?: (userId: string, frame: object) => boolean;
  readonly #unreadFrames = new UnreadFrames();

  constructor(names: Names, inbox: DirectReader, replay: InboxReplay, log: Logger) {
    this.#names = names;
    this.#inbox = inbox;
    this.#replay = replay;
    this.#log = log;
  }

  /** Set once, before the first attach: the subscriptions feed `onLive` / `onEphemeral`. */
  subscribe(subscriptions: FeedSubscriptions): void {
    this.#subscriptions = subscriptions;
  }

  /** Set once: a handler for some ephemeral frames (it returns true for those it took). */
  handleEphemeral(handler: (userId: string, frame: object) => boolean): void {
    this.#ephemeralHandler = handler;
  }

  /** The user's sockets on this gateway. */
  connectionsOf(userId: string): Iterable<Connection> {
    const held = this.#users.get(userId);
    return held === undefined ? [] : held instanceof Set ? held : [held];
  }

  get users(): number {
    return this.#users.size;
  }

  /**
   * Add the socket to its user's (subscribing if it is the user's first here) and fix its
   * starting cursor. Without a cursor the socket starts at the inbox's end. With one, it resumes
   * after it — if the inbox still holds the entry at the cursor: retention drops a user's oldest
   * entries first, so then nothing after it is gone. Otherwise entries may be lost, and rather than
   * skip them silently the socket starts at the end and is told `resume.reset` (the client resyncs
   * by REST). Cursor 0 means "everything the inbox holds". Live entries wait until `start` has sent
   * what is stored after the cursor.
   */
  async attach(conn: Connection, userId: string, requestedCursor?: number): Promise<AttachResult> {
    const existing = this.#users.get(userId);
    if (existing === undefined) {
      this.#users.set(userId, conn);
      this.#subscriptions!.add(userId);
    } else if (existing instanceof Set) existing.add(conn);
    else this.#users.set(userId, new Set([existing, conn]));
    conn.catchingUp = true;
    const subject = this.#names.subjects.inbox(userId);
    // Both reads at once: the entry at the cursor does not depend on the end.
    const [last, atCursor] = await Promise.all([
      this.#inbox.last(subject),
      requestedCursor !== undefined && requestedCursor > 0 ? this.#inbox.bySeq(requestedCursor) : Promise.resolve(null),
    ]);
    const end = last?.seq ?? 0;
    if (requestedCursor === undefined) {
      conn.lastSeq = end;
      return { cursor: end, resumed: false, end };
    }
    if (requestedCursor > 0 && atCursor?.subject !== subject) {
      conn.lastSeq = end;
      const reason = requestedCursor > end ? 'the cursor is past the end of the inbox' : 'the inbox no longer holds entries after this cursor';
      return { cursor: end, resumed: false, end, reset: { requestedCursor, reason } };
    }
    conn.lastSeq = requestedCursor;
    return { cursor: requestedCursor, resumed: true, end };
  }

  /** Send what is stored after the socket's cursor up to `end` (from attach), then what arrived live meanwhile. */
  start(conn: Connection, end: number): void {
    conn.started = true;
    void this.#catchUp(conn, end);
  }

  detach(conn: Connection): void {
    const userId = conn.userId;
    if (!userId) return;
    const held = this.#users.get(userId);
    if (held === conn) {
      this.#users.delete(userId);
      this.#subscriptions?.remove(userId);
    } else if (held instanceof Set) {
      held.delete(conn);
      if (held.size === 1) this.#users.set(userId, held.values().next().value!);
    }
  }

  onLive(userId: string, msg: Msg): void {
    const held = this.#users.get(userId);
    if (held === undefined) return;
    const seq = Number(msg.headers?.get(headers.sequence));
    const prev = Number(msg.headers?.get(headers.lastSequence) ?? 0);
    if (!Number.isFinite(seq) || seq <= 0) return;
    let entry: InboxEntry;
    let text: string;
    try {
      ({ entry, text } = decodeInboxEntry(msg.data));
    } catch (err) {
      this.#log.error({ err, userId, inboxSeq: seq }, 'unreadable inbox entry');
      return;
    }
    // The user's new unread count, when the entry's event changed it.
    const unread = parseUnreadHeader(msg.headers?.get(headers.unread));
    if (held instanceof Set) for (const conn of held) this.#offer(conn, seq, prev, entry, text, unread);
    else this.#offer(held, seq, prev, entry, text, unread);
  }

  onEphemeral(userId: string, msg: Msg): void {
    const held = this.#users.get(userId);
    if (held === undefined) return;
    let frame: object;
    try {
      frame = decodeJson<object>(msg.data);
    } catch {
      return;
    }
    if (this.#ephemeralHandler?.(userId, frame)) return;
    if (held instanceof Set) {
      for (const conn of held) if (conn.started && !conn.closed) conn.send(frame);
    } else if (held.started && !held.closed) held.send(frame);
  }

  /**
   * A live entry for one socket. Its unread count is live-only (a stored entry read back carries
   * one that may be old): it goes with the entry, or alone when the socket already has the entry
   * (a catch-up read it first).
   */
  #offer(conn: Connection, seq: number, prev: number, entry: InboxEntry, text: string, unread: UnreadCount | undefined): void {
    if (conn.closed) return;
    if (conn.catchingUp) {
      (conn.pending ??= []).push({ seq, prev, entry, text, unread });
      return;
    }
    if (seq <= conn.lastSeq) {
      if (unread) this.#unreadFrames.offer(conn, unread);
      return;
    }
    if (prev > conn.lastSeq) {
      (conn.pending ??= []).push({ seq, prev, entry, text, unread });
      conn.catchingUp = true;
      void this.#catchUp(conn, prev);
      return;
    }
    this.#deliverLive(conn, seq, entry, text, unread);
  }

  /** A live entry and its count: one socket write. */
  #deliverLive(conn: Connection, seq: number, entry: InboxEntry, text: string, unread: UnreadCount | undefined): void {
    if (!unread) return conn.deliver(seq, entry, text);
    conn.ws.cork(() => {
      conn.deliver(seq, entry, text);
      this.#unreadFrames.offer(conn, unread);
    });
  }

  /**
   * Read the stored entries after the socket's cursor up to `until`, send them, then the live
   * ones held meanwhile; a live one whose predecessor (Nats-Last-Sequence) was not sent is a gap,
   * read up to that predecessor in turn. `until` = Infinity reads to whatever the inbox holds.
   */
  async #catchUp(conn: Connection, until: number): Promise<void> {
    if (conn.catchUpRunning) {
      // A running catch-up reads to its own bound; have it read to the end once more when done.
      if (!Number.isFinite(until)) conn.recheck = true;
      return;
    }
    conn.catchUpRunning = true;
    conn.catchingUp = true;
    const subject = this.#names.subjects.inbox(conn.userId!);
    try {
      for (;;) {
        if (conn.closed) return;
        const before = conn.lastSeq;
        const stored = await this.#replay.read(subject, conn.lastSeq, until);
        if (conn.closed) return;
        if (stored.length > 1) conn.ws.cork(() => this.#deliverStored(conn, stored));
        else this.#deliverStored(conn, stored);
        const stuck = conn.lastSeq === before && until > before;
        // Drain what came live meanwhile; synchronous, so nothing new arrives while it runs.
        const pending = conn.pending?.sort((a, b) => a.seq - b.seq) ?? [];
        conn.pending = undefined;
        let gapAt = -1;
        for (let i = 0; i < pending.length; i++) {
          const p = pending[i]!;
          if (p.seq <= conn.lastSeq) {
            if (p.unread) this.#unreadFrames.offer(conn, p.unread);
            continue;
          }
          if (p.prev > conn.lastSeq) {
            gapAt = i;
            break;
          }
          this.#deliverLive(conn, p.seq, p.entry, p.text, p.unread);
        }
        if (gapAt < 0) {
          if (conn.recheck) {
            conn.recheck = false;
            until = Number.POSITIVE_INFINITY;
            continue;
          }
          conn.catchingUp = false;
          return;
        }
        if (stuck && !Number.isFinite(until)) {
          // The inbox holds nothing after the cursor, yet a live entry says something came
          // between: retention dropped it meanwhile. It cannot be sent; carry on after it.
          this.#log.warn({ connectionId: conn.id, lastSeq: conn.lastSeq, prev: pending[gapAt]!.prev }, 'inbox entries gone before they could be replayed');
          conn.lastSeq = pending[gapAt]!.prev;
          conn.pending = pending.slice(gapAt);
          continue;
        }
        conn.pending = pending.slice(gapAt);
        // Read up to the entry before the first held live one; if that read found nothing, to the end.
        until = stuck ? Number.POSITIVE_INFINITY : pending[gapAt]!.prev;
      }
    } catch (err) {
      this.#log.warn({ err, connectionId: conn.id }, 'inbox read failed; closing so the client resumes');
      conn.close(closes.inboxUnreadable);
    } finally {
      conn.catchUpRunning = false;
    }
  }

  #deliverStored(conn: Connection, stored: { seq: number; data: Uint8Array }[]): void {
    for (const s of stored) {
      if (conn.closed) return;
      if (s.seq <= conn.lastSeq) continue;
      const { entry, text } = decodeInboxEntry(s.data);
      conn.deliver(s.seq, entry, text);
    }
  }

  /**
   * After NATS reconnects, live entries published meanwhile were never seen: every socket reads
   * its inbox after its cursor again, to its end (a no-op when nothing is missing).
   */
  recheckAll(): void {
    for (const held of this.#users.values()) {
      for (const conn of held instanceof Set ? held : [held]) if (conn.started && !conn.closed) void this.#catchUp(conn, Number.POSITIVE_INFINITY);
    }
  }

  close(): void {
    this.#unreadFrames.stop();
    for (const userId of this.#users.keys()) this.#subscriptions?.remove(userId);
    this.#subscriptions?.close();
    this.#users.clear();
  }
}
