/**
 * nats-server's traffic counters for a bench run: read from a monitoring endpoint (`/varz`), either
 * one the caller names (`--nats-monitor`) or that of a private nats-server the bench starts for the
 * run (`--private-nats`: its own ports, its own store directory, stopped and removed at the end).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNatsServer, natsAnswers } from '../../cli/embedded-nats.js';
import { countersOfVarz, varzUrl, type NatsCounters } from './cost.js';
import { freePort } from './system.js';

/** The counters now, and the NATS client port the server says it listens on. */
export async function readVarz(monitor: string, timeoutMs = 3_000): Promise<NatsCounters & { port?: number }> {
  const res = await fetch(varzUrl(monitor), { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${varzUrl(monitor)} answered ${res.status}`);
  const body = (await res.json()) as { port?: unknown };
  return { ...countersOfVarz(body), ...(typeof body.port === 'number' ? { port: body.port } : {}) };
}

export type PrivateNats = {
  url: string;
  monitorUrl: string;
  pid: number;
  storeDir: string;
  /** With `profile`: its net/http/pprof endpoint (nats-server --profile), e.g. http://127.0.0.1:<port>. */
  profileUrl?: string;
  /** SIGTERM (SIGKILL after 10 s), wait for the exit, remove the store directory. Once only. */
  stop(): Promise<void>;
  /** Synchronous last resort (process exit): SIGKILL and remove the store directory. */
  kill(): void;
};

/**
 * Start `nats-server -a 127.0.0.1 -p <free> -m <free> -js -sd <tmpdir>` (with `profile`, also
 * `--profile <free>`: Go's pprof endpoint, idle until asked for a profile) and wait until it answers
 * on the client and monitoring ports. Throws (with the end of its output) when it exits or does not
 * answer within 15 s.
 */
export async function startPrivateNats(opts: { profile?: boolean } = {}): Promise<PrivateNats> {
  const binary = findNatsServer();
  if (!binary) throw new Error('--private-nats: no nats-server on PATH or in /usr/sbin');
  const [port, mport] = [await freePort(), await freePort()];
  const pport = opts.profile ? await freePort() : undefined;
  const storeDir = mkdtempSync(join(tmpdir(), 'parley-bench-nats-'));
  const args = ['-a', '127.0.0.1', '-p', String(port), '-m', String(mport), ...(pport ? ['--profile', String(pport)] : []), '-js', '-sd', storeDir];
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4096)));
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (e) => {
      output += `\n${e.message}`;
      exited = true;
      resolve();
    });
  });
  const url = `nats://127.0.0.1:${port}`;
  const monitorUrl = `http://127.0.0.1:${mport}`;
  let stopping: Promise<void> | undefined;
  const nats: PrivateNats = {
    url,
    monitorUrl,
    pid: child.pid ?? -1,
    storeDir,
    ...(pport ? { profileUrl: `http://127.0.0.1:${pport}` } : {}),
    stop: () =>
      (stopping ??= (async () => {
        if (!exited) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exit;
          clearTimeout(timer);
        }
        rmSync(storeDir, { recursive: true, force: true });
      })()),
    kill: () => {
      if (!exited) child.kill('SIGKILL');
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) break;
    if ((await natsAnswers({ host: '127.0.0.1', port }, 500)) && (await readVarz(monitorUrl, 500).then(() => true, () => false))) return nats;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await nats.stop();
  throw new Error(`the private nats-server (${binary}, ports ${port} and ${mport}) did not start: ${output.trim().split('\n').slice(-5).join(' | ') || 'no output'}`);
}
