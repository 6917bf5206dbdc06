/** A token, or how to get one: called at every connect and before the current one expires. */
export type TokenSource = string | (() => string | Promise<string>);

/**
 * The `exp` of a JWT, in epoch ms, without checking it (the server checks; the client only needs
 * to know when to refresh). Undefined for anything that is not a JWT with a numeric `exp`.
 */
export function tokenExpiry(token: string): number | undefined {
  const part = token.split('.')[1];
  const atob = (globalThis as { atob?: (s: string) => string }).atob;
  if (!part || !atob) return undefined;
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const claims = JSON.parse(atob(base64)) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * When to refresh a token that expires at `expiresAt`: `leadMs` before, or half-way through what
 * is left when that is shorter (a 60 s token is refreshed after 30 s, not at once).
 */
export function refreshDelay(now: number, expiresAt: number, leadMs: number): number {
  const left = expiresAt - now;
  return Math.max(0, left - leadMs, left / 2);
}
