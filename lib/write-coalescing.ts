import type { Socket } from 'node:net';
import type { NatsConnection } from '@nats-io/nats-core';

/**
 * One socket write per event-loop turn for a NATS connection instead of one per microtask.
 *
 * nats.js flushes its outbound buffer in a microtask queued by the first write after a flush. Code
 * that handles messages one `await` at a time (a consume loop, a callback per WebSocket frame)
 * therefore makes one `write` syscall per message: `writeBuffer` was 10–15 % of the projector's,
 * engine's and gateway's CPU profiles under load, and nats-server pays a read and a wake-up for
 * each. Corking the socket until the next turn (setImmediate) lets Node send the turn's writes
 * with one writev; they leave at most one turn later.
 *
 * Used by the engine and the delivery projector. The gateway does without: its turns grow long
 * under overload (thousands of WebSocket frames), and holding its commands that long made their
 * acks time out (`bench load --rate 5000`: 196k send_failed with it, none without).
 *
 * This reaches into nats.js's transport (`protocol.transport.socket`, public fields of the Node
 * transport); where they are missing, it does nothing.
 */
export function writeCoalescer(nc: NatsConnection): () => void {
  let corked: Socket | undefined;
  return () => {
    if (corked) return;
    const socket = (nc as unknown as { protocol?: { transport?: { socket?: Socket } } }).protocol?.transport?.socket;
    if (!socket || typeof socket.cork !== 'function' || socket.destroyed) return;
    socket.cork();
    corked = socket;
    setImmediate(() => {
      corked = undefined;
      socket.uncork();
    });
  };
}
