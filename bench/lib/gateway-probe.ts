/**
 * GET /health of a gateway behind a ws:// URL. The answer is the gateway's own `GatewayHealth`
 * (one definition, in gateway/gateway.ts); from a gateway the bench did not start (--url, the
 * fake gateway) any field may be missing, hence `Partial`.
 */
import type { GatewayHealth } from '../../gateway/gateway.js';

export type { GatewayHealth };

/** The http(s) /health URL of the gateway serving `wsUrl`. */
export function healthUrl(wsUrl: string): URL {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '/health';
  u.search = '';
  return u;
}

/** GET /health of the gateway behind a ws:// URL; undefined when nothing answers. */
export async function probeGateway(wsUrl: string, timeoutMs = 2_000): Promise<{ status: number; health: Partial<GatewayHealth> } | undefined> {
  try {
    const res = await fetch(healthUrl(wsUrl), { signal: AbortSignal.timeout(timeoutMs) });
    const health = (await res.json().catch(() => ({}))) as Partial<GatewayHealth>;
    return { status: res.status, health };
  } catch {
    return undefined;
  }
}
