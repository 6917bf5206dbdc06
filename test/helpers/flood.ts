import WebSocket from 'ws';
import type { TestClient } from './client.js';
import type { TestSystem } from './system.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One connection of a flooder: it sends message.send to bob as fast as the socket takes them and,
 * when the gateway closes it (4008 after too many refusals), connects again, until `stop()`.
 */
export function flood(sys: TestSystem, userId: string, opts: { url?: string; until: () => boolean }) {
  const stats = { connections: 0, closes4008: 0, rateLimited: 0, retryAfterMs: [] as number[] };
  let n = 0;
  const done = (async () => {
    while (!opts.until()) {
      let c: TestClient;
      try {
        c = await sys.connect(userId, opts.url ? { url: opts.url } : {});
      } catch {
        await sleep(20);
        continue;
      }
      stats.connections++;
      c.ws.on('error', () => undefined);
      c.ws.on('message', (data) => {
        const f = JSON.parse(data.toString());
        if (f.type === 'error' && f.error.code === 'rate_limited') {
          stats.rateLimited++;
          if (stats.retryAfterMs.length < 100) stats.retryAfterMs.push(f.error.retryAfterMs);
        }
      });
      while (c.ws.readyState === WebSocket.OPEN && !opts.until()) {
        for (let i = 0; i < 20; i++) c.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: `${userId}-${n++}`, content: 'flood' } });
        await sleep(5);
      }
      if (c.ws.readyState === WebSocket.OPEN) c.terminate();
      if ((await c.closed).code === 4008) stats.closes4008++;
    }
  })();
  return { stats, done };
}
