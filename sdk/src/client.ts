import { Backoff, type BackoffOptions } from './backoff.js';
import { systemClock, type CancelTimer, type Clock } from './clock.js';
import { decodeFrame, jsonCodec, type FrameCodec } from './codec.js';
import { isCursor, MemoryCursorStore, type CursorStore } from './cursor-store.js';
import { InboxDedupe } from './dedupe.js';
import { Emitter } from './emitter.js';
import { ParleyError, type SendFailedError } from './errors.js';
import { Outbox, type OutboxOptions, type PendingSend } from './outbox.js';
import { PresenceState } from './presence-state.js';
import { closeCodes, type AnyServerFrame, type ClientFrameType, type ClientPayloads, type ErrorFrame, type PresenceStatus, type SendContent, type SendPayload, type ServerFrame, type ServerFrameType, type ServerPayloads } from './protocol.js';
import { RestClient, restUrlOf, type FetchLike } from './rest.js';
import { refreshDelay, tokenExpiry, type TokenSource } from './token.js';
import { TypingSender } from './typing-sender.js';
import { TypingState } from './typing-state.js';
import { UnreadState } from './unread-state.js';
import { globalWebSocket, OPEN, type SocketFactory, type WebSocketConstructor, type WebSocketLike } from './websocket.js';

export type ClientState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export type ParleyClientOptions = {
  /**
   * The gateway's socket, e.g. `ws://127.0.0.1:8080/ws`; or a function asked at every (re)connect,
   * for an app that picks among gateways.
   */
  url: string | (() => string);
  token: TokenSource;
  /** Where the inbox cursor is kept (default: in memory). */
  cursorStore?: CursorStore;
  /** JSON (default) or `msgpackCodec({ pack, unpack })`. */
  codec?: FrameCodec;
  /** The WebSocket class: the global one by default; on Node 20, `ws`'s. */
  WebSocket?: WebSocketConstructor;
  /** Makes each socket instead (to set headers or TLS options on Node); wins over `WebSocket`. */
  createSocket?: SocketFactory;
  /** The REST base; by default the socket URL's origin (ws→http). */
  restUrl?: string;
  fetch?: FetchLike;
  reconnect?: Partial<BackoffOptions>;
  outbox?: Partial<OutboxOptions>;
  /** Delivery receipts (`ack`) go out at most this often while messages arrive. Default 250 ms. */
  ackEveryMs?: number;
  /** A token from a function is refreshed (auth.refresh) this long before it expires. Default 60 s. */
  refreshBeforeExpiryMs?: number;
  /** No connection.success within this long: the attempt is dropped and retried. Default 10 s. */
  connectTimeoutMs?: number;
  /** An app-level ping goes out this often; nothing heard for twice as long drops the socket. Default 20 s. */
  pingEveryMs?: number;
  clock?: Clock;
};

type SentResult = ServerPayloads['message.sent'];

/** The client's events: every server frame by its type (payload, frame), and the client's own. */
export type ClientEvents = { [K in ServerFrameType]: (payload: ServerPayloads[K], frame: Extract<ServerFrame, { type: K }>) => void } & {
  state: (state: ClientState) => void;
  /** The server could not resume from the cursor (resume.reset): reload what the app shows through REST. */
  resync: (info: ServerPayloads['resume.reset']) => void;
  unread: (unread: UnreadState) => void;
  presence: (userId: string, status: { isOnline: boolean; lastSeen: string | null }) => void;
  typing: (conversationId: string, userIds: string[]) => void;
  /** An error frame that answers no pending send or request (a command's rejection, with its ref). */
  error: (error: ParleyError, frame: ErrorFrame) => void;
  /** A socket closed (the client reconnects unless close() was called or the token is refused for good). */
  disconnected: (info: { code: number; reason: string }) => void;
  /** A send was given up (refused, or past the outbox's bounds, or close()). */
  send_failed: (error: SendFailedError, payload: SendPayload) => void;
  /** A server frame the client could not process (malformed): dropped, the client carried on. */
  frame_error: (error: unknown, frame: unknown) => void;
  /** An event handler threw: the client carried on. */
  handler_error: (error: unknown, event: string) => void;
};

type Request = { resolve: (frame: AnyServerFrame) => void; reject: (err: ParleyError) => void; cancel: CancelTimer };

const REQUEST_TIMEOUT_MS = 10_000;

/**
 * A Parley connection that stays up: it authenticates with the `authenticate` frame (no token in
 * URLs or logs), resumes after every drop from the last inbox `seq` the app processed, hands each
 * durable frame to the app once and in order, acknowledges deliveries, re-sends unconfirmed
 * messages with their tempId, and keeps unread counts, presence and typing for the app to read.
 */
export class ParleyClient {
  readonly rest: RestClient;
  readonly unread = new UnreadState();
  readonly presenceState = new PresenceState();
  readonly typingState = new TypingState();

  readonly #o: Required<Pick<ParleyClientOptions, 'ackEveryMs' | 'refreshBeforeExpiryMs' | 'connectTimeoutMs' | 'pingEveryMs'>> & ParleyClientOptions;
  readonly #clock: Clock;
  readonly #codec: FrameCodec;
  readonly #createSocket: SocketFactory;
  readonly #cursorStore: CursorStore;
  readonly #events: Emitter<ClientEvents>;
  readonly #backoff: Backoff;
  readonly #outbox: Outbox<SendPayload, SentResult>;
  readonly #typing: TypingSender;
  readonly #requests = new Map<string, Request>();
  #dedupe: InboxDedupe | undefined;
  #state: ClientState = 'idle';
  #socket: WebSocketLike | undefined;
  /** The socket has had its connection.success: frames other than authenticate may go. */
  #live = false;
  #userId: string | undefined;
  #session: ServerPayloads['connection.success'] | undefined;
  #token: string | undefined;
  #connectedAt = 0;
  #lastHeardAt = 0;
  #nextRef = 0;
  #ackedSeq = 0;
  #ackDue: number | undefined;
  #timers: { ack?: CancelTimer; refresh?: CancelTimer; ping?: CancelTimer; connect?: CancelTimer; reconnect?: CancelTimer } = {};
  /** What connect() returned while no connection.success has come since. */
  #nextSession: { promise: Promise<ServerPayloads['connection.success']>; resolve: (p: ServerPayloads['connection.success']) => void; reject: (e: Error) => void } | undefined;
  /** disconnect() was called: no reconnect until connect(). */
  #paused = false;
  #resolvePaused: (() => void) | undefined;
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;

  constructor(options: ParleyClientOptions) {
    this.#o = { ackEveryMs: 250, refreshBeforeExpiryMs: 60_000, connectTimeoutMs: 10_000, pingEveryMs: 20_000, ...options };
    this.#clock = options.clock ?? systemClock;
    this.#codec = options.codec ?? jsonCodec;
    this.#cursorStore = options.cursorStore ?? new MemoryCursorStore();
    const WebSocketClass = options.WebSocket ?? globalWebSocket();
    const create = options.createSocket ?? (WebSocketClass ? (url: string, protocols: string[]) => new WebSocketClass(url, protocols) : undefined);
    if (!create) throw new TypeError('no WebSocket here: pass one in the options (on Node 20: `WebSocket` from the ws package)');
    this.#createSocket = create;
    this.#events = new Emitter<ClientEvents>((error, event) => {
      if (event !== 'handler_error') this.#events.emit('handler_error', error, String(event));
    });
    this.#backoff = new Backoff(options.reconnect);
    this.#outbox = new Outbox<SendPayload, SentResult>((tempId, payload) => this.#sendFrame('message.send', payload, `s:${tempId}`), {
      clock: this.#clock,
      ...options.outbox,
    });
    this.#typing = new TypingSender((type, conversationId) => void this.#sendFrame(type, { conversationId }), this.#clock);
    this.rest = new RestClient(options.restUrl ?? restUrlOf(typeof options.url === 'string' ? options.url : options.url()), () => this.#currentToken(), options.fetch);
  }

  get state(): ClientState {
    return this.#state;
  }

  /** The user the token names, once connected. */
  get userId(): string | undefined {
    return this.#userId;
  }

  /** The last inbox seq the app processed (what a reconnect resumes after). */
  get cursor(): number | undefined {
    return this.#dedupe?.cursor;
  }

  /** Durable frames dropped as already processed (replays, failover duplicates). */
  get duplicatesDropped(): number {
    return this.#dedupe?.dropped ?? 0;
  }

  get presence(): ReadonlyMap<string, { isOnline: boolean; lastSeen: string | null }> {
    return this.presenceState.users;
  }

  on<K extends keyof ClientEvents>(type: K, handler: ClientEvents[K]): () => void {
    return this.#events.on(type, handler);
  }

  once<K extends keyof ClientEvents>(type: K, handler: ClientEvents[K]): () => void {
    return this.#events.once(type, handler);
  }

  /**
   * Connect, and stay connected until close() or disconnect(). Resolves with the next
   * connection.success (at once when connected); rejects if close() comes first, or the token is
   * refused and there is no way to get another. After disconnect(), connect() resumes from the cursor.
   */
  connect(): Promise<ServerPayloads['connection.success']> {
    if (this.#nextSession) return this.#nextSession.promise;
    if (this.#state === 'closed') return Promise.reject(new ParleyError('closed', 'the client is closed'));
    if (this.#state === 'open' && this.#session) return Promise.resolve(this.#session);
    let resolve!: (p: ServerPayloads['connection.success']) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<ServerPayloads['connection.success']>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined); // a caller that never awaits it must not crash the process
    this.#nextSession = { promise, resolve, reject };
    if (this.#state === 'idle') {
      this.#paused = false;
      this.#setState(this.#userId === undefined ? 'connecting' : 'reconnecting');
      void this.#open();
    }
    return promise;
  }

  /**
   * Close the socket cleanly and stay disconnected (an app going to the background), keeping the
   * cursor and the outbox: sends wait, and connect() resumes where this left off.
   */
  disconnect(): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'idle') return Promise.resolve();
    this.#paused = true;
    this.#flushAck();
    this.#timers.reconnect?.();
    this.#timers.reconnect = undefined;
    const socket = this.#socket;
    if (!socket) {
      this.#setState('idle');
      return Promise.resolve();
    }
    const done = new Promise<void>((resolve) => (this.#resolvePaused = resolve));
    socket.close(1000, 'client disconnecting');
    return done;
  }

  /**
   * Send a message. Resolves with `message.sent`'s payload once stored; retried with the same
   * tempId across reconnects and temporary errors; rejects with a SendFailedError (its `code` is the
   * protocol's) when refused or past the outbox's bounds. Give your own tempId to make a retry of
   * yours (after a reload) the same message.
   */
  send(target: { conversationId: string } | { toUserId: string }, content: SendContent | string, options: { tempId?: string } = {}): Promise<SentResult> {
    const body = typeof content === 'string' ? { content } : content;
    const tempId = options.tempId ?? newTempId();
    const payload = { ...target, ...body, tempId } as SendPayload;
    const result = this.#outbox.add(tempId, payload);
    // Reported as an event too, so that a send nobody awaits neither fails unseen nor crashes the
    // process as an unhandled rejection.
    result.catch((error: SendFailedError) => this.#events.emit('send_failed', error, payload));
    return result;
  }

  /** Sends not confirmed yet, oldest first. */
  pending(): PendingSend<SendPayload>[] {
    return this.#outbox.pending();
  }

  /** Read up to `upToSeq` (a message seq; everything when omitted). False when not connected. */
  markRead(conversationId: string, upToSeq?: number): boolean {
    return this.#sendFrame('message.read', { conversationId, ...(upToSeq !== undefined ? { upToSeq } : {}) });
  }

  /** Call on each keystroke: typing.start now, renewed while it goes on, typing.stop once it stops. */
  typing(conversationId: string): void {
    this.#typing.keystroke(conversationId);
  }

  stopTyping(conversationId: string): void {
    this.#typing.stop(conversationId);
  }

  /** Hear these users' presence too (status.bulk answers with their presence now). */
  async subscribePresence(userIds: string[]): Promise<PresenceStatus[]> {
    const frame = await this.request('presence.subscribe', { userIds });
    return frame.type === 'status.bulk' ? frame.payload.users : [];
  }

  /** A frame answered with its ref (presence.subscribe, presence.unsubscribe, ping): the answer, or the error as a ParleyError. */
  request<K extends 'presence.subscribe' | 'presence.unsubscribe' | 'ping'>(type: K, payload: ClientPayloads[K]): Promise<AnyServerFrame> {
    const ref = `r:${++this.#nextRef}`;
    return new Promise((resolve, reject) => {
      if (!this.#sendFrame(type, payload, ref)) return reject(new ParleyError('unavailable', 'not connected', { temporary: true }));
      const cancel = this.#clock.after(REQUEST_TIMEOUT_MS, () => {
        this.#requests.delete(ref);
        reject(new ParleyError('timeout', `no answer to ${type} within ${REQUEST_TIMEOUT_MS} ms`, { temporary: true }));
      });
      this.#requests.set(ref, { resolve, reject, cancel });
    });
  }

  /**
   * Any client frame, as it is (a command such as conversation.create or block.add: its effect comes
   * back as durable frames, a rejection as an `error` event with this ref). False when not
   * connected: nothing was sent.
   */
  sendFrame<K extends ClientFrameType>(type: K, payload: ClientPayloads[K], ref?: string): boolean {
    return this.#sendFrame(type, payload, ref);
  }

  /** Drop the socket as a network failure would; the client reconnects and resumes. */
  dropConnection(): void {
    const socket = this.#socket;
    if (!socket) return;
    const terminate = (socket as { terminate?: () => void }).terminate;
    if (typeof terminate === 'function') terminate.call(socket);
    else socket.close(4000, 'dropped by the client');
  }

  /** Stop for good: pending sends reject with `closed`, the socket closes. */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    const socket = this.#socket;
    this.#flushAck();
    this.#setState('closed');
    this.#stopTimers();
    this.#timers.reconnect?.();
    this.#outbox.close();
    this.#typing.reset();
    this.#failRequests(new ParleyError('closed', 'the client closed'));
    this.#nextSession?.reject(new ParleyError('closed', 'the client closed before it connected'));
    this.#nextSession = undefined;
    this.#resolvePaused?.();
    if (socket && socket.readyState <= OPEN) socket.close(1000, 'client closing');
    else this.#resolveClosed!();
    return this.#closed;
  }

  async #open(): Promise<void> {
    if (this.#state === 'closed') return;
    let token: string;
    try {
      token = await this.#freshToken();
      if (!this.#dedupe) {
        const stored = await this.#cursorStore.get();
        this.#dedupe = new InboxDedupe(stored);
      }
    } catch {
      // No token (the app's provider failed) or no cursor: try again later, as for a failed connect.
      this.#scheduleReconnect();
      return;
    }
    if (this.#isClosed() || this.#paused) return; // close() or disconnect() came while waiting for the token
    const cursor = this.#dedupe.cursor;
    const base = typeof this.#o.url === 'string' ? this.#o.url : this.#o.url();
    const url = cursor === undefined ? base : `${base}${base.includes('?') ? '&' : '?'}cursor=${cursor}`;
    let socket: WebSocketLike;
    try {
      socket = this.#createSocket(url, [this.#codec.subprotocol]);
    } catch {
      this.#scheduleReconnect();
      return;
    }
    this.#socket = socket;
    this.#live = false;
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      if (this.#socket === socket) socket.send(this.#codec.encode({ type: 'authenticate', payload: { token } }));
    };
    socket.onmessage = (event: { data: unknown }) => {
      if (this.#socket !== socket) return;
      this.#lastHeardAt = this.#clock.now();
      let frame: AnyServerFrame;
      try {
        frame = decodeFrame(this.#codec, event.data) as AnyServerFrame;
      } catch {
        return; // the server sends nothing undecodable; a proxy's garbage is not a reason to stop
      }
      if (!frame || typeof frame !== 'object' || typeof frame.type !== 'string') return;
      try {
        this.#onFrame(frame);
      } catch (err) {
        // A frame of a known type without the fields it must have (a proxy's or a server's bug): it
        // is reported and dropped. Thrown from here it would leave the socket's event handler —
        // on Node an uncaught exception that ends the app's process.
        this.#events.emit('frame_error', err, frame);
      }
    };
    socket.onerror = () => undefined; // a close follows
    socket.onclose = (event: { code: number; reason?: unknown }) => {
      if (this.#socket !== socket) return;
      this.#onClose({ code: event.code, reason: String(event.reason ?? '') });
    };
    this.#timers.connect = this.#clock.after(this.#o.connectTimeoutMs, () => {
      if (this.#socket === socket && !this.#live) this.dropConnection();
    });
  }

  #onFrame(frame: AnyServerFrame): void {
    if (frame.type === 'error') {
      if (typeof frame.error?.code !== 'string') throw new TypeError('an error frame without a code');
      return this.#onError(frame);
    }
    if (frame.type === 'connection.success') {
      // Its cursor goes into the URL of every reconnect: a NaN or a negative one would never connect again.
      if (!isCursor(frame.payload?.cursor)) throw new TypeError('connection.success without a valid cursor');
      return this.#onSession(frame.payload);
    }
    // A seq must be a cursor too (msgpack can carry NaN or Infinity): anything else is not a frame.
    if (frame.seq !== undefined && !isCursor(frame.seq)) throw new TypeError(`a frame with seq ${String(frame.seq)}`);
    const dedupe = this.#dedupe!;
    if (typeof frame.seq === 'number' && !dedupe.accept(frame.seq)) return;
    this.#settleRequest(frame);
    switch (frame.type) {
      case 'message.sent':
        this.#outbox.confirm(frame.payload.tempId, frame.payload);
        break;
      case 'message.new': {
        const m = frame.payload.message;
        if (m.senderId === this.#userId) this.#outbox.confirm(m.tempId, { tempId: m.tempId, message: m });
        else if (typeof frame.seq === 'number') this.#scheduleAck(frame.seq);
        break;
      }
      case 'resume.reset':
        if (!isCursor(frame.payload.cursor)) throw new TypeError('resume.reset without a valid cursor');
        dedupe.reset(frame.payload.cursor);
        this.#events.emit('resync', frame.payload);
        break;
      case 'unread.summary':
        this.unread.summary(frame.payload);
        this.#events.emit('unread', this.unread);
        break;
      case 'unread.update':
        this.unread.update(frame.payload);
        this.#events.emit('unread', this.unread);
        break;
      case 'status.bulk':
        for (const u of frame.payload.users) this.#presence(u);
        break;
      case 'user.online':
      case 'user.offline':
        this.#presence(frame.payload);
        break;
      case 'typing.start':
        if (this.typingState.start(frame.payload.conversationId, frame.payload.userId)) this.#emitTyping(frame.payload.conversationId);
        break;
      case 'typing.stop':
        if (this.typingState.stop(frame.payload.conversationId, frame.payload.userId)) this.#emitTyping(frame.payload.conversationId);
        break;
      case 'auth.refreshed':
        this.#scheduleRefresh();
        break;
    }
    (this.#events.emit as (type: string, ...args: unknown[]) => void)(frame.type, frame.payload, frame);
    // The cursor is stored once the app's handlers have run: a reload resumes after what they saw.
    if (typeof frame.seq === 'number') void Promise.resolve(this.#cursorStore.set(frame.seq)).catch(() => undefined);
  }

  #onSession(payload: ServerPayloads['connection.success']): void {
    this.#timers.connect?.();
    this.#live = true;
    this.#userId = payload.userId;
    this.#connectedAt = this.#clock.now();
    this.#dedupe!.session(payload);
    if (!payload.resumed) void Promise.resolve(this.#cursorStore.set(payload.cursor)).catch(() => undefined);
    // Receipts are per connection (docs/protocol.md, ack): this one has acknowledged nothing yet.
    this.#ackedSeq = 0;
    this.#ackDue = undefined;
    this.#setState('open');
    this.#scheduleRefresh();
    this.#schedulePing();
    this.#events.emit('connection.success', payload, { type: 'connection.success', payload });
    this.#session = payload;
    this.#nextSession?.resolve(payload);
    this.#nextSession = undefined;
    this.#outbox.reconnected();
  }

  #onError(frame: ErrorFrame): void {
    const e = frame.error;
    const details = {
      ...(e.temporary !== undefined ? { temporary: e.temporary } : {}),
      ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
    };
    const tempId = e.tempId ?? (frame.ref?.startsWith('s:') ? frame.ref.slice(2) : undefined);
    if (tempId !== undefined && this.#outbox.onError(tempId, e.code, e.message, details)) return;
    const error = new ParleyError(e.code, e.message, details);
    const request = frame.ref === undefined ? undefined : this.#requests.get(frame.ref);
    if (request) {
      request.cancel();
      this.#requests.delete(frame.ref!);
      request.reject(error);
      return;
    }
    // A refused token is followed by close 4001: #onClose decides what to do; the app hears both.
    this.#events.emit('error', error, frame);
  }

  #onClose(info: { code: number; reason: string }): void {
    this.#socket = undefined;
    const wasLive = this.#live;
    this.#live = false;
    this.#stopTimers();
    this.#outbox.disconnected();
    this.#typing.reset();
    for (const conversationId of this.typingState.clear()) this.#emitTyping(conversationId);
    this.#failRequests(new ParleyError('unavailable', 'the connection closed before the answer', { temporary: true }));
    this.#events.emit('disconnected', info);
    if (this.#state === 'closed') {
      this.#resolveClosed?.();
      return;
    }
    if (this.#paused) {
      this.#setState('idle');
      this.#resolvePaused?.();
      this.#resolvePaused = undefined;
      return;
    }
    if (wasLive) this.#backoff.connectionLasted(this.#clock.now() - this.#connectedAt);
    if (info.code === closeCodes.unauthorized) {
      this.#token = undefined;
      if (typeof this.#o.token === 'string') {
        // The same token would be refused again: only the app can fix this.
        const error = new ParleyError('unauthorized', `the server refused the token (${info.reason || info.code}); give the client a token function to reconnect with fresh ones`);
        this.#nextSession?.reject(error);
        this.#nextSession = undefined;
        this.#setState('closed');
        this.#outbox.close('the token was refused');
        return;
      }
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#state === 'closed' || this.#paused) return;
    this.#setState(this.#userId === undefined ? 'connecting' : 'reconnecting');
    const delay = this.#backoff.next();
    this.#timers.reconnect = this.#clock.after(delay, () => {
      this.#timers.reconnect = undefined;
      void this.#open();
    });
  }

  #sendFrame(type: string, payload: object, ref?: string): boolean {
    const socket = this.#socket;
    if (!socket || !this.#live || socket.readyState !== OPEN) return false;
    try {
      socket.send(this.#codec.encode(ref === undefined ? { type, payload } : { type, ref, payload }));
      return true;
    } catch {
      return false; // closing: the close handler takes it from here
    }
  }

  #settleRequest(frame: ServerFrame): void {
    if (frame.ref === undefined) return;
    const request = this.#requests.get(frame.ref);
    if (!request) return;
    request.cancel();
    this.#requests.delete(frame.ref);
    request.resolve(frame);
  }

  #failRequests(error: ParleyError): void {
    for (const [ref, request] of this.#requests) {
      request.cancel();
      this.#requests.delete(ref);
      request.reject(error);
    }
  }

  #presence(status: PresenceStatus): void {
    if (this.presenceState.apply(status)) this.#events.emit('presence', status.userId, { isOnline: status.isOnline, lastSeen: status.lastSeen });
  }

  #emitTyping(conversationId: string): void {
    this.#events.emit('typing', conversationId, this.typingState.in(conversationId));
  }

  /** Receipts: one `ack` for everything up to the newest message from others, at most every ackEveryMs. */
  #scheduleAck(seq: number): void {
    this.#ackDue = seq;
    if (this.#timers.ack) return;
    this.#timers.ack = this.#clock.after(this.#o.ackEveryMs, () => {
      this.#timers.ack = undefined;
      this.#flushAck();
    });
  }

  #flushAck(): void {
    const seq = this.#ackDue;
    if (seq === undefined || seq <= this.#ackedSeq) return;
    if (this.#sendFrame('ack', { seq })) {
      this.#ackedSeq = seq;
      this.#ackDue = undefined;
    }
  }

  #schedulePing(): void {
    const every = this.#o.pingEveryMs;
    this.#timers.ping = this.#clock.after(every, () => {
      if (!this.#live) return;
      if (this.#clock.now() - this.#lastHeardAt >= 2 * every) {
        this.dropConnection(); // a half-open connection: nothing heard, not even a pong
        return;
      }
      this.#sendFrame('ping', { timestamp: this.#clock.now() });
      this.#schedulePing();
    });
  }

  /** A token from a function is refreshed before it expires, on the open connection (auth.refresh). */
  #scheduleRefresh(): void {
    this.#timers.refresh?.();
    this.#timers.refresh = undefined;
    const source = this.#o.token;
    const expiresAt = this.#token === undefined ? undefined : tokenExpiry(this.#token);
    if (typeof source === 'string' || expiresAt === undefined) return;
    this.#timers.refresh = this.#clock.after(refreshDelay(this.#clock.now(), expiresAt, this.#o.refreshBeforeExpiryMs), () => {
      this.#timers.refresh = undefined;
      void this.#refresh();
    });
  }

  async #refresh(): Promise<void> {
    let token: string;
    try {
      token = await this.#freshToken();
    } catch {
      // The provider failed: try again in a while; if the token expires first, the server closes
      // with 4001 and the reconnect asks the provider again.
      this.#timers.refresh = this.#clock.after(5_000, () => void this.#refresh());
      return;
    }
    this.#sendFrame('auth.refresh', { token });
  }

  async #freshToken(): Promise<string> {
    const source = this.#o.token;
    const token = typeof source === 'string' ? source : await source();
    if (typeof token !== 'string' || token === '') throw new ParleyError('unauthorized', 'the token function gave no token');
    this.#token = token;
    return token;
  }

  /** For REST: the token in use, or a fresh one. */
  async #currentToken(): Promise<string> {
    return this.#token ?? this.#freshToken();
  }

  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #stopTimers(): void {
    const { reconnect } = this.#timers;
    for (const [name, cancel] of Object.entries(this.#timers)) if (name !== 'reconnect') cancel?.();
    this.#timers = reconnect ? { reconnect } : {};
  }

  #setState(state: ClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#events.emit('state', state);
  }
}

/** A tempId: a UUID where there is crypto.randomUUID, else 128 random bits from Math.random. */
export function newTempId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  let id = '';
  for (let i = 0; i < 4; i++) id += Math.floor(Math.random() * 2 ** 32).toString(16).padStart(8, '0');
  return id;
}
