import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { errorBody, errorCodes, ParleyError, type ErrorCode } from '../../lib/errors.js';
import { wireValueProblem } from '../../lib/wire-value.js';
import { isId } from '../../schemas/index.js';

/**
 * HTTP plumbing for uWebSockets.js: everything is copied out of `req` at once (it is gone after the
 * first await), the body is read with onData, an aborted response is never written, and every
 * write is corked.
 */
export type Request = {
  method: string;
  url: string;
  query: URLSearchParams;
  authorization: string;
  /** Path parameters, percent-decoded; undefined where the encoding is broken (`%ZZ`, a cut UTF-8 sequence). */
  params: (string | undefined)[];
  aborted: boolean;
  /** Headers every answer to this request carries (CORS, set by the route once it has read Origin). */
  headers?: Record<string, string>;
};

const STATUS: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

export function capture(res: HttpResponse, req: HttpRequest, paramCount = 0): Request {
  const request: Request = {
    method: req.getMethod(),
    url: req.getUrl(),
    query: new URLSearchParams(req.getQuery() ?? ''),
    authorization: req.getHeader('authorization'),
    params: Array.from({ length: paramCount }, (_, i) => decodePathParam(req.getParameter(i) ?? '')),
    aborted: false,
  };
  res.onAborted(() => {
    request.aborted = true;
  });
  return request;
}

/** decodeURIComponent throws on a broken escape, and this runs before any token is checked. */
function decodePathParam(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** Path parameter `i` as an id (schemas/common.ts ID_PATTERN), or a validation_error naming it. */
export function idParam(request: Request, i: number, what: string): string {
  const value = request.params[i];
  if (value === undefined || !isId(value)) throw new ParleyError('validation_error', `${what} must be 1–128 letters, digits, _ or -`);
  return value;
}

export function sendJson(res: HttpResponse, request: Request, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (request.aborted) return;
  res.cork(() => {
    res.writeStatus(STATUS[status] ?? `${status} Status`);
    res.writeHeader('content-type', 'application/json');
    if (request.headers) for (const [k, v] of Object.entries(request.headers)) res.writeHeader(k, v);
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    res.end(JSON.stringify(body));
  });
}

/** An answer without a body (204 No Content). */
export function sendEmpty(res: HttpResponse, request: Request, status: number): void {
  if (request.aborted) return;
  res.cork(() => {
    res.writeStatus(STATUS[status] ?? `${status} Status`);
    if (request.headers) for (const [k, v] of Object.entries(request.headers)) res.writeHeader(k, v);
    res.endWithoutBody();
  });
}

/** The same `{ error: { code, message } }` body as the WebSocket `error` frame, with the code's HTTP status. */
export function sendError(res: HttpResponse, request: Request, code: ErrorCode, message: string, extra: object = {}, headers: Record<string, string> = {}): void {
  sendJson(res, request, errorCodes[code].http, { error: errorBody(code, message, extra) }, headers);
}

export function sendFailure(res: HttpResponse, request: Request, err: unknown): void {
  if (err instanceof ParleyError && err.retryAfterMs !== undefined) {
    // 429 with Retry-After (whole seconds, rounded up) and the exact wait in the body, as in the error frame.
    const retryAfterMs = err.retryAfterMs;
    return sendError(res, request, err.code, err.message, { retryAfterMs }, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) });
  }
  if (err instanceof ParleyError) return sendError(res, request, err.code, err.message);
  sendError(res, request, 'internal', 'internal error');
}

/**
 * Whether a Content-Type header declares JSON: `application/json`, optionally with
 * `charset=utf-8` (any case). Bodies are only read as JSON, and only when declared so: a browser
 * may send text/plain, form or multipart bodies cross-origin without asking first (a "simple"
 * request), never application/json.
 */
export function isJsonContentType(value: string): boolean {
  const [type, ...params] = value.split(';').map((p) => p.trim().toLowerCase());
  if (type !== 'application/json') return false;
  return params.every((p) => p === '' || /^charset="?utf-8"?$/.test(p.replace(/\s*=\s*/, '=')));
}

/**
 * Read a JSON body of at most `maxBytes`; must be called synchronously in the route handler. With
 * `contentType` (the request's header, '' when absent), a non-empty body not declared JSON is
 * refused with `unsupported_media_type`; an empty body is `{}` whatever the header says.
 */
export function readJson(res: HttpResponse, maxBytes: number, contentType?: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    res.onData((chunk, isLast) => {
      if (failed) return;
      size += chunk.byteLength;
      if (size > maxBytes) {
        failed = true;
        reject(new ParleyError('payload_too_large', `bodies are limited to ${maxBytes} bytes`));
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0))); // the ArrayBuffer is neutered after this callback
      if (!isLast) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({});
      if (contentType !== undefined && !isJsonContentType(contentType)) {
        return reject(new ParleyError('unsupported_media_type', 'send the body as content-type: application/json'));
      }
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        return reject(new ParleyError('bad_frame', `invalid JSON: ${(err as Error).message}`));
      }
      const problem = wireValueProblem(value);
      if (problem !== undefined) return reject(new ParleyError('validation_error', problem.replace(/^frame/, 'body')));
      resolve(value);
    });
  });
}

export function bearer(authorization: string): string {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!m) throw new ParleyError('unauthorized', 'send Authorization: Bearer <jwt>');
  return m[1]!;
}
