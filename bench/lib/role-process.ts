/**
 * One role of the system under test as a child process: `node bin/parley.mjs start --role <role>`,
 * its output written to the system's log as whole lines tagged with the role and stream, ready
 * when it prints its banner; and how it is stopped (SIGTERM, SIGKILL after a grace period).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { WriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/parley.mjs', import.meta.url));

/** The node flags every Parley process is started with (bin/parley.mjs says why); measured as users run it. */
export const PARLEY_NODE_FLAGS = ['--max-semi-space-size=32'];
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type SystemRole = 'gateway' | 'engine' | 'projector' | 'all' | 'backend' | 'push';

export type RoleProcess = {
  role: SystemRole;
  pid: number;
  child: ChildProcess;
  /** The exit code (128 when killed by a signal). */
  exited: Promise<number | null>;
};

export type SpawnRole = {
  env: NodeJS.ProcessEnv;
  /** node flags before the script (CPU profiling and the like). */
  nodeArgs: string[];
  log: WriteStream;
  /** Named in error messages. */
  logFile: string;
  readyTimeoutMs: number;
};

/** Whole lines only, each tagged with the role and stream. */
function tagLines(log: WriteStream, role: SystemRole, stream: 'out' | 'err'): (chunk: Buffer) => void {
  let partial = '';
  return (chunk) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line) log.write(`[${role} ${stream}] ${line}\n`);
  };
}

/**
 * Start one role; `started` sees it as soon as it is spawned (so a failed start can still stop
 * it). Resolves when the role prints "Parley is running", rejects when it exits or times out first.
 */
export async function spawnRole(role: SystemRole, o: SpawnRole, started: (p: RoleProcess) => void): Promise<RoleProcess> {
  const child = spawn(process.execPath, [...PARLEY_NODE_FLAGS, ...o.nodeArgs, BIN, 'start', '--role', role], { cwd: REPO_ROOT, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
  const p: RoleProcess = { role, pid: child.pid!, child, exited };
  started(p);
  child.stderr!.on('data', tagLines(o.log, role, 'err'));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${role} not ready within ${o.readyTimeoutMs / 1000} s (log: ${o.logFile})`)), o.readyTimeoutMs);
    const tagOut = tagLines(o.log, role, 'out');
    child.stdout!.on('data', (chunk: Buffer) => {
      tagOut(chunk);
      if (out.length < 64_000) out += chunk.toString();
      if (out.includes('Parley is running')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${role} exited with ${code} before it was ready (log: ${o.logFile})`));
    });
  });
  return p;
}

export const isRunning = (p: RoleProcess): boolean => p.child.exitCode === null && p.child.signalCode === null;

/**
 * SIGTERM, then SIGKILL when the process is still there after `graceMs`. Returns its exit code,
 * or 'killed'.
 */
export async function stopRole(p: RoleProcess, graceMs: number): Promise<number | null | 'killed'> {
  if (!isRunning(p)) return p.exited;
  p.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([p.exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), graceMs)))]);
  clearTimeout(timer);
  if (code !== 'timeout') return code;
  p.child.kill('SIGKILL');
  await Promise.race([p.exited, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
  clearTimeout(timer);
  return 'killed';
}
