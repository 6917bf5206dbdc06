/**
 * "Is NATS there?" for `parley start` and `parley demo`. When the configured NATS does not answer
 * and the configuration is the default local one, a `nats-server` found on this machine is started
 * as a child process (JetStream on, store under <dataDir>/nats) and stopped again with us.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/log.js';

export type EnsuredNats = {
  /** Stop the nats-server we started (SIGTERM, wait for it to exit); nothing if we did not start one. */
  stop(): Promise<void>;
  /** Whether this process started a nats-server. */
  started: boolean;
};

type Endpoint = { host: string; port: number };

const DEFAULT_PORT = 4222;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

/** `nats://host:port`, `tls://…`, `host:port` or `host` → host and port (default 4222). */
export function parseNatsUrl(url: string): Endpoint {
  const u = new URL(url.includes('://') ? url : `nats://${url}`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1'); // [::1] → ::1
  return { host: host || '127.0.0.1', port: u.port ? Number(u.port) : DEFAULT_PORT };
}

/** True when something that speaks NATS (it greets with `INFO {…}`) listens there. */
export function natsAnswers({ host, port }: Endpoint, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    let greeting = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolvePromise(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('data', (chunk) => {
      greeting += chunk.toString('latin1');
      if (greeting.length >= 5) done(greeting.startsWith('INFO '));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

/** The default configuration: one local server on 4222, which we may start ourselves. */
export function isDefaultLocal(natsUrl: string[]): boolean {
  if (natsUrl.length !== 1) return false;
  try {
    const { host, port } = parseNatsUrl(natsUrl[0]!);
    return (host === '127.0.0.1' || host === 'localhost') && port === DEFAULT_PORT && !/^tls:/i.test(natsUrl[0]!);
  } catch {
    return false;
  }
}

/** `nats-server` on PATH, or in the usual system places. */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'nats-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function howToStartNats(config: Pick<Config, 'natsUrl' | 'dataDir'>): string {
  return [
    `Start a NATS server with JetStream, for example:`,
    `  nats-server -a 127.0.0.1 -p 4222 -js -sd ${join(config.dataDir, 'nats')}`,
    `  docker run --rm -p 4222:4222 nats:latest -js`,
    `(install nats-server: https://docs.nats.io/running-a-nats-service/introduction/installation),`,
    `or point PARLEY_NATS_URL at a running one (now: ${config.natsUrl.join(',')}).`,
  ].join('\n');
}

/**
 * Make sure NATS answers at the configured URL, starting a local nats-server if that is possible
 * (see the module comment). Throws an Error that says how to start NATS when it cannot be had.
 */
export async function ensureNats(config: Config, log: Logger): Promise<EnsuredNats> {
  const endpoints = config.natsUrl.map(parseNatsUrl);
  const answers = await Promise.all(endpoints.map((e) => natsAnswers(e)));
  if (answers.some(Boolean)) return { started: false, stop: async () => undefined };

  const where = config.natsUrl.join(',');
  if (!isDefaultLocal(config.natsUrl)) {
    throw new Error(`NATS does not answer at ${where}.\n${howToStartNats(config)}`);
  }
  const binary = findNatsServer();
  if (!binary) {
    throw new Error(`NATS does not answer at ${where}, and no nats-server was found on PATH or in /usr/sbin to start one.\n${howToStartNats(config)}`);
  }
  return startNatsServer({ binary, host: '127.0.0.1', port: DEFAULT_PORT, storeDir: join(config.dataDir, 'nats') }, log);
}

/** Start `nats-server -a host -p port -js -sd storeDir` (log in storeDir) and wait until it answers. */
export async function startNatsServer(
  opts: { binary: string; host: string; port: number; storeDir: string },
  log: Logger,
): Promise<EnsuredNats> {
  const storeDir = resolve(opts.storeDir);
  mkdirSync(storeDir, { recursive: true });
  const logFile = join(storeDir, 'nats-server.log');
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(opts.binary, ['-a', opts.host, '-p', String(opts.port), '-js', '-sd', storeDir], { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd); // the child has its own copy
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
    child.once('error', (err) => {
      log.error({ err, binary: opts.binary }, 'could not run nats-server');
      resolveExit({ code: null, signal: null });
    });
  });
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((info) => {
    exitInfo = info;
  });
  const tail = () => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-10).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const url = `nats://${opts.host}:${opts.port}`;

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exitInfo) {
      throw new Error(
        `the nats-server we started (${opts.binary}) exited at once (code ${exitInfo.code}, signal ${exitInfo.signal}); last lines of ${logFile}:\n${tail()}`,
      );
    }
    if (await natsAnswers({ host: opts.host, port: opts.port }, 500)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the nats-server we started did not answer at ${url} within ${START_TIMEOUT_MS / 1000} s; see ${logFile}:\n${tail()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  log.info({ natsPid: child.pid, url, storeDir, logFile }, 'NATS was not running: started an embedded nats-server (JetStream); it stops with this process');

  let stopping: Promise<void> | undefined;
  return {
    started: true,
    stop() {
      stopping ??= (async () => {
        if (exitInfo) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          log.warn({ natsPid: child.pid }, `nats-server did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM; killing it`);
          child.kill('SIGKILL');
        }, STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
        log.info({ natsPid: child.pid }, 'embedded nats-server stopped');
      })();
      return stopping;
    },
  };
}
