import http from 'node:http';

export type FuzzRequest = { method: string; path: string; headers: Record<string, string>; body?: Uint8Array };
export type FuzzResponse = { status: number; headers: http.IncomingHttpHeaders; body: string };

/**
 * One HTTP/1.1 request on a connection of its own (no agent: a connection one request spoils is
 * not reused by the next). node:http sends the path as given, percent-escapes and all; a
 * connection reset or a response that never comes rejects.
 */
export function send(base: string, request: FuzzRequest, timeoutMs = 15_000): Promise<FuzzResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: request.method,
        path: request.path,
        headers: { ...request.headers, ...(request.body ? { 'content-length': String(request.body.byteLength) } : {}) },
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(request.body);
  });
}
