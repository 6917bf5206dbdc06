import { connect } from 'node:net';

export type RawRequest = {
  method: string;
  /** Sent as it is: `..` segments, `%00`, odd characters (fetch and http.request would tidy them up). */
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** Rejects when no status line came by then. */
  waitMs?: number;
  /** Close the socket right after sending: the server's answer, if any, goes to an aborted response. */
  hangUp?: boolean;
};

/**
 * One HTTP/1.1 request written byte for byte on a socket, answered with its status, or 0 when the
 * server closed without one (uWS does that to a request line it cannot parse) or `hangUp` closed
 * it first. `host`, `connection: close` and, with a body, its `content-length` are always set.
 */
export function rawRequest(baseUrl: string, r: RawRequest): Promise<number> {
  const url = new URL(baseUrl);
  const body = r.body ?? '';
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let data = '';
    socket.setTimeout(r.waitMs ?? 5_000, () => {
      socket.destroy();
      reject(new Error(`no answer to ${r.method} ${JSON.stringify(r.path)}`));
    });
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m) {
        socket.destroy();
        resolve(Number(m[1]));
      }
    });
    socket.on('error', () => resolve(0));
    socket.on('close', () => resolve(0));
    const headers = { ...r.headers, host: url.host, connection: 'close', ...(body !== '' ? { 'content-length': String(Buffer.byteLength(body)) } : {}) };
    const head = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(`${r.method} ${r.path} HTTP/1.1\r\n${head}\r\n${body}`, () => {
      if (r.hangUp) socket.destroy();
    });
  });
}
