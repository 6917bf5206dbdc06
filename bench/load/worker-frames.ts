/** What a generator does with each frame it receives: read type, seq and tempId straight from the bytes where it can, and count. Raw `ws` and byte-level frames, not the SDK: worker.ts says why. */
import { performance } from 'node:perf_hooks';
import { decode, scanFrame, tempIdOf, type Scanned } from '../lib/frames.js';
import { Histogram } from '../lib/histogram.js';
import { bump, NOT_SENT, REJECTED, SENT, type Conn, type GeneratorState } from './worker-state.js';

function messageIndex(g: GeneratorState, s: Scanned, buf: Buffer): number {
  if (s.tempIdAt) return g.ids.parse(buf, s.tempIdAt[0], s.tempIdAt[1]);
  const t = tempIdOf(s.frame ?? decodeSafe(g, buf));
  return t === undefined ? -1 : g.ids.parseString(t);
}

function isPrime(g: GeneratorState, s: Scanned, buf: Buffer): boolean {
  if (s.tempIdAt) return g.primeIds.parse(buf, s.tempIdAt[0], s.tempIdAt[1]) >= 0;
  const t = tempIdOf(s.frame ?? decodeSafe(g, buf));
  return t !== undefined && g.primeIds.parseString(t) >= 0;
}

function decodeSafe(g: GeneratorState, buf: Buffer): any {
  try {
    return decode(buf, g.init.codec);
  } catch {
    return undefined;
  }
}

export function onFrame(g: GeneratorState, c: Conn, buf: Buffer): void {
  const now = performance.now();
  const s = scanFrame(buf, g.init.codec);
  g.frames.set(s.type, (g.frames.get(s.type) ?? 0) + 1);
  if (s.seq !== undefined && s.seq > c.maxSeq) c.maxSeq = s.seq;
  const running = g.phase === 'running' || g.phase === 'draining';
  if (running && now >= g.t0) g.second(g.nowSec(now)).frames++;
  switch (s.type) {
    case 'message.new': {
      const i = messageIndex(g, s, buf);
      if (i < 0 || i >= g.total || g.state[i] === NOT_SENT) {
        if (isPrime(g, s, buf)) g.primeReceived++;
        else g.counts.foreign++;
        return;
      }
      const conv = i % g.M;
      const slot = c.slots.get(conv);
      if (slot === undefined) {
        g.counts.foreign++;
        return;
      }
      // The sender's own message on another connection than the one that sent it (after a
      // reconnect) comes as message.new: that is its confirmation.
      if (slot === Math.floor(i / g.M) % g.size) {
        confirm(g, i, now);
        return;
      }
      const bit = i * g.bytesPerMsg * 8 + slot;
      const byte = bit >>> 3;
      const mask = 1 << (bit & 7);
      if (g.bitmap[byte]! & mask) {
        g.counts.duplicateNew++;
        return;
      }
      g.bitmap[byte]! |= mask;
      g.counts.deliveries++;
      if (g.state[i] === SENT) g.owed--;
      const sched = g.t0 + i * g.interval;
      const lat = (now - sched) * 1000;
      if (i >= g.warmCount) g.hNew.record(lat);
      const ssn = g.second(Math.floor((i * g.interval) / 1000));
      (ssn._hn ??= new Histogram()).record(lat);
      g.second(g.nowSec(now)).deliveries++;
      if (g.inWindow(now)) g.windowCounts.deliveries++;
      return;
    }
    case 'message.sent': {
      const i = messageIndex(g, s, buf);
      if (i < 0 || i >= g.total || g.state[i] === NOT_SENT) {
        if (isPrime(g, s, buf)) g.primeReceived++;
        else g.counts.foreign++;
        return;
      }
      confirm(g, i, now);
      return;
    }
    case 'unread.update':
    case 'message.status':
      return;
    default:
      slowFrame(g, c, s.frame ?? decodeSafe(g, buf));
  }
}

/** The sender learned that message i is stored (message.sent, or its own message.new after a reconnect). */
function confirm(g: GeneratorState, i: number, now: number): void {
  if (g.sentSeen[i]) {
    g.counts.duplicateSent++;
    return;
  }
  g.sentSeen[i] = 1;
  g.counts.confirmed++;
  if (g.state[i] === SENT) g.owed--;
  const lat = (now - (g.t0 + i * g.interval)) * 1000;
  if (i >= g.warmCount) g.hSent.record(lat);
  const sss = g.second(Math.floor((i * g.interval) / 1000));
  (sss._hs ??= new Histogram()).record(lat);
  g.second(g.nowSec(now)).acks++;
  if (g.inWindow(now)) g.windowCounts.confirmed++;
}

function slowFrame(g: GeneratorState, c: Conn, frame: any): void {
  if (!frame || typeof frame !== 'object') return;
  switch (frame.type) {
    case 'connection.success':
      c.onSuccess?.();
      return;
    case 'conversation.created': {
      const id = frame.payload?.conversation?.id;
      if (typeof id === 'string') c.created.add(id);
      if (typeof frame.ref === 'string') g.createdWaiters.get(`${c.index}/${frame.ref}`)?.(frame);
      return;
    }
    case 'error': {
      const code = String(frame.error?.code ?? 'unknown');
      const key = frame.error?.tempId ?? frame.ref;
      const i = typeof key === 'string' ? g.ids.parseString(key) : -1;
      if (i >= 0 && i < g.total && g.state[i] === SENT) {
        g.state[i] = REJECTED;
        bump(g.counts.rejected, code);
        g.owed -= g.size;
      } else {
        bump(g.counts.otherErrors, code);
        if (!c.open) c.onFail?.(new Error(`${code}: ${frame.error?.message}`));
      }
      return;
    }
    default:
      return;
  }
}