/** A generator's connections: opening one (and reopening it with ?cursor= after an unexpected close), opening all, closing all. Raw `ws` and byte-level frames, not the SDK: worker.ts says why. */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { onFrame } from './worker-frames.js';
import { bump, type Conn, type GeneratorState } from './worker-state.js';

const noMask = () => undefined;

export function openConn(g: GeneratorState, c: Conn, cursor?: number): Promise<void> {
  const subprotocol = g.init.codec === 'json' ? 'parley.v1.json' : 'parley.v1.msgpack';
  const url = cursor !== undefined && cursor > 0 ? `${g.init.url}?cursor=${cursor}` : g.init.url;
  const ws = new WebSocket(url, [subprotocol], {
    headers: { authorization: `Bearer ${c.token}` },
    perMessageDeflate: false,
    skipUTF8Validation: true,
    // a zero mask: the frame bytes go out as they are (no per-frame masking pass)
    generateMask: noMask,
    handshakeTimeout: g.init.connectTimeoutMs,
    ...(c.address ? { localAddress: c.address } : {}),
  });
  c.ws = ws;
  const began = performance.now();
  let upgraded = false;
  ws.once('open', () => (upgraded = true));
  // how the TCP connection ended, for the failure message: FIN from the server, or a reset
  let tcpEnd = '';
  ws.once('upgrade', (res) => {
    res.socket.once('end', () => (tcpEnd ||= 'the server closed the TCP connection (FIN)'));
    res.socket.once('error', (e: Error) => (tcpEnd ||= `socket error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
  });
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`no connection.success within ${g.init.connectTimeoutMs} ms`)), g.init.connectTimeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      c.onSuccess = c.onFail = undefined;
      ws.terminate();
      reject(err);
    };
    c.onSuccess = () => {
      clearTimeout(timer);
      c.onSuccess = c.onFail = undefined;
      c.open = true;
      resolve();
    };
    c.onFail = fail;
    ws.on('message', (data) => onFrame(g, c, data as Buffer));
    ws.on('error', (err) => c.onFail?.(err));
    ws.once('close', (code, reason) => {
      const wasOpen = c.open;
      c.open = false;
      c.onFail?.(
        new Error(
          `closed with ${code}${reason.length ? ` ${reason.toString()}` : ''} before connection.success ` +
            `(${upgraded ? 'after the upgrade' : 'during the handshake'}, ${Math.round(performance.now() - began)} ms after connecting${tcpEnd ? `; ${tcpEnd}` : ''})`,
        ),
      );
      // a connection that never opened is a failed connect, not an unexpected close
      if (c.closing || c.ws !== ws || !wasOpen) return;
      bump(g.counts.closes, String(code));
      if (g.init.reconnect && g.phase !== 'done') {
        g.counts.reconnects++;
        const retry = (attempt: number) =>
          setTimeout(() => {
            if (g.phase === 'done' || c.closing) return;
            openConn(g, c, c.maxSeq).catch(() => {
              if (attempt < 20) retry(attempt + 1);
            });
          }, 200 * attempt);
        retry(1);
      }
    });
  });
}

/** Run `fn` over `items`, `limit` at a time. */
export async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

/** Open every connection, `connectConcurrency` at a time; like a client, a failed connect is retried. */
export async function connectAll(g: GeneratorState): Promise<void> {
  const m = g.init;
  const started = performance.now();
  let failed = 0;
  let firstError: string | undefined;
  let retries = 0;
  let firstRetried: string | undefined;
  await pool(g.conns, m.connectConcurrency, async (c) => {
    // like a client: a failed connect is retried (3 attempts); retries are reported
    for (let attempt = 1; ; attempt++) {
      try {
        await openConn(g, c);
        return;
      } catch (err) {
        const message = `${c.user} via ${c.address ?? 'any address'}: ${(err as Error).message}`;
        if (attempt >= 3) {
          failed++;
          firstError ??= message;
          return;
        }
        retries++;
        firstRetried ??= message;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  });
  g.connectInfo = { ms: performance.now() - started, failed, retries, ...(firstError ? { firstError } : {}), ...(firstRetried ? { firstRetried } : {}) };
}

export async function closeAll(g: GeneratorState): Promise<void> {
  g.phase = 'done';
  await Promise.all(
    g.conns.map(
      (c) =>
        new Promise<void>((resolve) => {
          c.closing = true;
          const ws = c.ws;
          if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
          const t = setTimeout(() => {
            ws.terminate();
            resolve();
          }, 3_000);
          ws.once('close', () => {
            clearTimeout(t);
            resolve();
          });
          ws.close(1000, 'bench done');
        }),
    ),
  );
}

