import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { signDevToken } from '../lib/dev-token.js';
import { errorBody, ParleyError } from '../lib/errors.js';
import type { Faults } from '../lib/faults.js';
import type { Logger } from '../lib/log.js';
import { isId } from '../schemas/index.js';
import { clientAddress } from './address-limits.js';
import type { DemoAssets } from './demo-assets.js';
import { guardHttp } from './guard.js';
import type { OriginPolicy } from './origins.js';
import { KeyedBuckets } from './rate-limit.js';
import { capture, readJson, sendFailure, sendJson } from './rest/http.js';

/**
 * The browser demo's routes (PARLEY_DEMO): GET /demo and GET /demo/<file> from memory, and, only
 * on a gateway that verifies with the development secret, POST /demo/token, which mints a token
 * for any user who asks. Routes not mounted fall to the gateway's 404 like any unknown path.
 */
export type DemoRouteDeps = {
  assets: DemoAssets;
  /** Present only when the gateway's secret is DEV_JWT_SECRET: then and only then tokens are minted. */
  mint?: {
    secret: string;
    issuer?: string;
    audience?: string;
    /** Per address (address-limits.ts's settings for connection attempts: a token is one step of a connect). */
    perSecond: number;
    burst: number;
    trustProxyHops: number;
  };
  origins: OriginPolicy;
  log: Logger;
  faults: Faults;
};

/** A minted token lasts an hour: the client asks for a new one at each connect. */
export const DEMO_TOKEN_TTL_SEC = 3600;
/** `{"userId": "<128 characters>"}` and some whitespace: anything longer is not a token request. */
export const DEMO_TOKEN_MAX_BODY = 1024;
/** Signatures in progress at once, whoever asks: past it `overloaded`, so a flood from many addresses queues nothing. */
const MAX_MINTING = 64;
const ADDRESSES_TRACKED = 100_000;

/**
 * The page is plain files of our own: only our scripts and styles run, it connects only to this
 * origin (the socket included), and no other site may frame it.
 */
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // Read at start from the checkout: a restarted gateway serves the edited files at once.
  'cache-control': 'no-cache',
};

export function mountDemoRoutes(app: TemplatedApp, deps: DemoRouteDeps): void {
  const { assets, faults } = deps;
  const page = assets.get('index.html');
  const serve = (res: HttpResponse, name: string): void => {
    const asset = name === '' ? page : assets.get(name);
    if (!asset) return notFound(res);
    res.cork(() => {
      res.writeStatus('200 OK').writeHeader('content-type', asset.contentType);
      for (const [k, v] of Object.entries(PAGE_HEADERS)) res.writeHeader(k, v);
      res.end(asset.body);
    });
  };
  app.get('/demo', guardHttp(faults, 'GET /demo', (res) => serve(res, '')));
  app.get('/demo/', guardHttp(faults, 'GET /demo/', (res) => serve(res, '')));
  // The name exactly as sent (not decoded, never a path): `..%2F`, `a/b`, `index.html%00` are not on the list.
  app.get('/demo/:file', guardHttp(faults, 'GET /demo/:file', (res, req) => serve(res, req.getParameter(0) ?? '')));
  if (deps.mint) mountTokenRoute(app, deps, deps.mint);
}

function mountTokenRoute(app: TemplatedApp, deps: DemoRouteDeps, mint: NonNullable<DemoRouteDeps['mint']>): void {
  const perAddress = new KeyedBuckets(mint.perSecond, mint.burst, ADDRESSES_TRACKED);
  let minting = 0;
  app.post(
    '/demo/token',
    guardHttp(deps.faults, 'POST /demo/token', (res, req) => {
      const request = capture(res, req);
      const origin = req.getHeader('origin');
      request.headers = deps.origins.responseHeaders(origin);
      const address = clientAddress(Buffer.from(res.getRemoteAddressAsText()).toString(), req.getHeader('x-forwarded-for'), mint.trustProxyHops);
      // Read from the first byte (onData must be set up now); a refused request's body is just dropped.
      const body = readJson(res, DEMO_TOKEN_MAX_BODY, req.getHeader('content-type'));
      body.catch(() => undefined);
      (async () => {
        try {
          if (!deps.origins.allows(origin)) throw new ParleyError('forbidden', 'origin not allowed');
          const wait = perAddress.take(address, Date.now());
          if (wait > 0) throw new ParleyError('rate_limited', 'too many token requests from this address; slow down', { retryAfterMs: wait });
          const userId = demoUserId(await body);
          if (minting >= MAX_MINTING) throw new ParleyError('overloaded', 'too many token requests at once; retry');
          minting += 1;
          let token: string;
          try {
            token = await signDevToken({ secret: mint.secret, ...(mint.issuer ? { issuer: mint.issuer } : {}), ...(mint.audience ? { audience: mint.audience } : {}) }, { sub: userId }, DEMO_TOKEN_TTL_SEC);
          } finally {
            minting -= 1;
          }
          sendJson(res, request, 200, { token }, { 'cache-control': 'no-store' });
        } catch (err) {
          if (!(err instanceof ParleyError)) deps.log.error({ err }, 'POST /demo/token failed');
          sendFailure(res, request, err);
        }
      })().catch((err: unknown) => deps.faults.report(err, 'POST /demo/token answer'));
    }),
  );
}

/** The body's userId, or a validation_error: `{ "userId": <id> }` and nothing else. */
export function demoUserId(body: unknown): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ParleyError('validation_error', 'send {"userId": "<id>"}');
  const keys = Object.keys(body);
  if (keys.some((k) => k !== 'userId')) throw new ParleyError('validation_error', 'the body has only userId');
  const userId = (body as { userId?: unknown }).userId;
  if (typeof userId !== 'string' || !isId(userId)) throw new ParleyError('validation_error', 'userId must be 1–128 letters, digits, _ or -');
  return userId;
}

/** The same answer as the gateway's other unknown paths (app-routes.ts). */
function notFound(res: HttpResponse): void {
  res.cork(() => res.writeStatus('404 Not Found').writeHeader('content-type', 'application/json').end(JSON.stringify({ error: errorBody('not_found', 'no such route') })));
}
