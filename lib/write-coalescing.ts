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
 * Used by the engine and the delivery projector, and by the gateway's command connection with
 * `maxHeld`: a gateway turn grows long under overload (thousands of WebSocket frames), so its
 * commands leave every `maxHeld` publishes rather than at the end of the turn.
 *
 * This reaches into nats.js's transport (`protocol.transport.socket`, public fields of the Node
 * transport); where they are missing, it does nothing.
 */
export function writeCoalescer(nc: NatsConnection, maxHeld = Number.POSITIVE_INFINITY): () => void {
  let corked: Socket | undefined;
  let held = 0;
  /** Which cork a pending setImmediate belongs to: one let go early is not uncorked twice. */
  let generation = 0;
  const uncork = (g: number) => {
    if (!corked || g !== generation) return;
    const socket = corked;
    corked = undefined;
    socket.uncork();
  };
  return () => {
    if (corked) {
      if (held < maxHeld) {
        held++;
        return;
      }
      // A long turn does not hold its writes to its end: maxHeld of them go, and a new cork starts.
      uncork(generation);
    }
    const socket = (nc as unknown as { protocol?: { transport?: { socket?: Socket } } }).protocol?.transport?.socket;
    if (!socket || typeof socket.cork !== 'function' || socket.destroyed) return;
    socket.cork();
    corked = socket;
    held = 1;
    const g = ++generation;
    setImmediate(() => uncork(g));
  };
}
