/** Before the clock: a generator creates its conversations, builds one frame template per conversation, and primes the server. */
import { performance } from 'node:perf_hooks';
import { encode, FrameTemplate } from '../lib/frames.js';
import { pool } from './worker-connections.js';
import type { Conn, GeneratorState } from './worker-state.js';

export async function setUp(g: GeneratorState): Promise<{ failed: number; firstError?: string }> {
  let failed = 0;
  let firstError: string | undefined;
  g.convIds = new Array(g.M);
  await pool(
    g.init.conversations.map((members, j) => ({ members, j })),
    g.init.setupConcurrency,
    async ({ members, j }) => {
      const creator = g.conns[members[0]!]!;
      const ref = `c${j}`;
      const others = members.slice(1).map((k) => g.conns[k]!.user);
      const payload = g.size === 2 ? { kind: 'direct', userId: others[0] } : { kind: 'group', title: `bench ${g.init.runTag} ${j}`, members: others };
      try {
        const frame = await new Promise<any>((resolve, reject) => {
          const key = `${creator.index}/${ref}`;
          const timer = setTimeout(() => {
            g.createdWaiters.delete(key);
            reject(new Error(`no conversation.created for ${ref} within 30 s`));
          }, 30_000);
          g.createdWaiters.set(key, (f) => {
            clearTimeout(timer);
            g.createdWaiters.delete(key);
            resolve(f);
          });
          if (!creator.open) reject(new Error(`creator ${creator.user} is not connected`));
          else creator.ws!.send(encode({ type: 'conversation.create', ref, payload }, g.init.codec), g.sendOpts);
        });
        g.convIds[j] = frame.payload.conversation.id as string;
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    },
  );
  // Every member should know the conversation before the clock starts (the projector caught up).
  const deadline = performance.now() + 30_000;
  const missing = () =>
    g.init.conversations.reduce((n, members, j) => n + members.filter((k) => g.convIds[j] !== undefined && !g.conns[k]!.created.has(g.convIds[j]!)).length, 0);
  while (missing() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const late = missing();
  if (late > 0) firstError ??= `${late} member(s) had no conversation.created after 30 s`;

  const content = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore. '
    .repeat(Math.ceil(g.init.contentSize / 100) + 1)
    .slice(0, Math.max(1, g.init.contentSize));
  const placeholder = '~'.repeat(g.ids.length);
  g.templates = g.convIds.map((id) =>
    new FrameTemplate(g.init.codec, { type: 'message.send', ref: placeholder, payload: { conversationId: id ?? 'missing', tempId: placeholder, content } }, placeholder),
  );
  if (g.init.prime) {
    const primed = await prime(g);
    if (primed) firstError ??= primed;
  }
  return { failed, ...(firstError ? { firstError } : {}) };
}

/**
 * Warm the server before the clock starts: members 0 and 1 of every conversation send one message
 * each, so every user has received a message (engine and projector state, unread counts loaded),
 * at a bounded pace, and we wait until every copy has arrived. Returns a complaint, if any.
 */
async function prime(g: GeneratorState): Promise<string | undefined> {
  let expected = 0;
  let n = 0;
  const sends: { c: Conn; conv: number }[] = [];
  g.init.conversations.forEach((members, j) => {
    if (g.convIds[j] === undefined) return;
    for (const k of members.slice(0, 2)) sends.push({ c: g.conns[k]!, conv: j });
  });
  const perTick = Math.max(1, Math.round(g.init.primeRate / 100));
  for (let i = 0; i < sends.length; i++) {
    const { c, conv } = sends[i]!;
    if (!c.open) continue;
    c.ws!.send(g.templates[conv]!.make(g.primeIds.id(n++)), g.sendOpts);
    expected += g.size; // one message.sent, g.size - 1 message.new
    if (i % perTick === perTick - 1) await new Promise((r) => setTimeout(r, 10));
  }
  const deadline = performance.now() + g.init.primeTimeoutMs;
  while (g.primeReceived < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return g.primeReceived < expected ? `priming: ${g.primeReceived} of ${expected} copies arrived within ${g.init.primeTimeoutMs / 1000} s` : undefined;
}