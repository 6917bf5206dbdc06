import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { errorCodes, isErrorCode } from '../../../lib/errors.js';
import { defaultConfig, type Config } from '../../../lib/config.js';
import { ADMIN_SCOPE } from '../../../gateway/auth.js';
import { signDevToken } from '../../../lib/dev-token.js';
import type { TestSystem } from '../../helpers/system.js';
import { FuzzSocket } from './fuzz-socket.js';

const ALLOWED_ORIGIN = 'https://app.example';

/** A running Parley to fuzz: where it listens, and tokens a client could hold. */
export type FuzzTarget = {
  system: TestSystem;
  wsUrl: string;
  httpBase: string;
  /** Valid tokens of users who send and read, and of an administrator (the /v1/admin routes). */
  tokens: string[];
  /** A token whose signature is right and whose time is up. */
  expiredToken: string;
  maxPayloadBytes: number;
  /** The one browser origin the fuzzed system allows (others are refused). */
  allowedOrigin: string;
  /** Unexpected errors the gateway contained so far (/health `faults`): each one is a bug. */
  faults(): number;
};

const defaults = defaultConfig();

/**
 * The configuration to fuzz: the defaults, but one allowed browser origin (so that others are
 * refused); a per-address connect rate the fuzz, one address opening hundreds of sockets a second,
 * stays under (at the default most bursts would be a 429 and fuzz nothing), and a small cap on
 * sockets not yet authenticated (the fuzz holds one or two at a time: a leaked count shows as a
 * 429); one trusted proxy, so that X-Forwarded-For is read.
 */
export const fuzzConfig = {
  allowedOrigins: [ALLOWED_ORIGIN],
  rateLimits: { ...defaults.rateLimits, address: { connectsPerSecond: 5_000, connectBurst: 5_000, maxUnauthenticated: 10 }, trustProxyHops: 1 },
} satisfies Partial<Config>;

export async function fuzzTarget(system: TestSystem): Promise<FuzzTarget> {
  const users = await Promise.all(['fuzz-alice', 'fuzz-bob', 'fuzz-carol'].map((u) => system.token(u, { name: `${u} ☃` })));
  const admin = await signDevToken({ secret: system.config.auth.secret! }, { sub: 'fuzz-admin', scope: ADMIN_SCOPE }, 3_600);
  return {
    system,
    wsUrl: system.url,
    httpBase: system.url.replace('ws://', 'http://').replace(/\/ws$/, ''),
    tokens: [...users, admin],
    allowedOrigin: ALLOWED_ORIGIN,
    expiredToken: await system.token('fuzz-alice', {}, -3_600),
    maxPayloadBytes: system.config.limits.maxPayloadBytes,
    faults: () => system.running[0]!.gateway!.stats().faults,
  };
}

/** The protocol's error shape: `{ code, message, temporary }`, a code of lib/errors.ts and its own `temporary`; rate_limited with `retryAfterMs`. */
export function assertErrorShape(error: unknown, where: string): keyof typeof errorCodes {
  const e = error as { code?: unknown; message?: unknown; temporary?: unknown } | undefined;
  assert.ok(e !== null && typeof e === 'object', `${where}: an error object`);
  assert.ok(isErrorCode(e.code), `${where}: a known error code (${String(e.code)})`);
  assert.equal(typeof e.message, 'string', `${where}: a message`);
  assert.equal(e.temporary, errorCodes[e.code].temporary, `${where}: temporary as errorCodes says for ${e.code}`);
  if (e.code === 'rate_limited') {
    const wait = (e as { retryAfterMs?: unknown }).retryAfterMs;
    assert.ok(typeof wait === 'number' && wait > 0 && Number.isFinite(wait), `${where}: rate_limited says how long to wait (retryAfterMs)`);
  }
  return e.code;
}

/**
 * After fuzzing: the process is up and healthy, contained no unexpected error, still delivers a
 * message from one user to another, and its Postgres projector applied everything the fuzz got
 * stored (nothing stepped over, sanitised or parked, no failed batch) up to the end of the log.
 */
export async function assertStillServes(target: FuzzTarget): Promise<void> {
  const health = await fetch(`${target.httpBase}/health`);
  const body = (await health.json()) as { status: string; faults: number };
  assert.equal(health.status, 200, `/health answers 200 (${JSON.stringify(body)})`);
  assert.equal(body.faults, 0, 'no unexpected error was contained: each would be a bug');

  const sys = target.system;
  const bob = await sys.connect('fuzz-check-bob');
  const alice = await sys.connect('fuzz-check-alice');
  const tempId = `after-fuzz-${Date.now()}`;
  alice.send({ type: 'message.send', payload: { toUserId: 'fuzz-check-bob', tempId, content: 'still here' } });
  const got = await bob.next('message.new', (f) => f.payload.message.tempId === tempId, 10_000);
  assert.equal(got.payload.message.content, 'still here', 'a message still goes from one user to another');
  alice.terminate();
  bob.terminate();

  // Every fuzz socket is closed: none still counts against the address's unauthenticated cap.
  const anonymous = await FuzzSocket.open(target.wsUrl, 'json');
  anonymous.terminate();

  const running = sys.running[0]!;
  const jsm = await jetstreamManager(running.nc);
  const end = (await jsm.streams.info(running.names.streams.events)).state.last_seq;
  const projector = running.postgres!.active!;
  const deadline = Date.now() + 20_000;
  while (projector.stats().checkpoint < end && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const stats = projector.stats();
  assert.ok(stats.checkpoint >= end, `the projector's checkpoint reaches the end of the log (${stats.checkpoint} of ${end})`);
  assert.equal(stats.invalid, 0, 'no stored event the projector had to step over');
  assert.equal(stats.sanitized, 0, 'no stored event whose text had to be mended');
  assert.equal(stats.failed, 0, 'no read-model batch failed');
  assert.equal(stats.parked, 0, 'no stored event Postgres refused (parked)');
  assert.equal(stats.failingSince, null);
}
