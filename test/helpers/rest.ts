import type { TestSystem } from './system.js';

/** One REST call as `user` (a fresh dev token; `name` as its claim when given), the body parsed. */
export async function restCall(sys: TestSystem, user: string, method: string, path: string, body?: unknown, claims: { name?: string } = {}) {
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${await sys.token(user, claims)}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as any };
}
