/**
 * `npm run bench -- <scenario> [flags]`: the entry point of the bench suite. Each scenario is a
 * module bench/<scenario>.ts exporting `run(argv: string[]): Promise<number>` (the exit code) and
 * `help: string`; it is loaded only when it runs (or for --help). Benchmarks are never part of
 * `npm test`.
 */

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type ScenarioModule = { run(argv: string[]): Promise<number>; help: string };

const scenarios: { name: string; summary: string }[] = [
  { name: 'load', summary: 'Open-loop chat load (1:1 or groups): latency percentiles, throughput, loss, CPU per process' },
  { name: 'compare', summary: 'Two run JSONs side by side with ratios (Markdown)' },
  { name: 'connections', summary: 'Many idle connections: connect rate, memory per connection' },
  { name: 'storm', summary: 'Reconnect storm: many clients resuming from their cursors at once' },
  { name: 'rebuild', summary: 'Rebuild of the read models from the event log' },
  { name: 'micro', summary: 'Micro-benchmarks of hot functions' },
  { name: 'flood', summary: 'One user flooding through reconnecting WebSockets and REST under the default abuse limits, and an innocent user beside it' },
  { name: 'presence', summary: 'Users with contacts connecting and leaving: presence frames/s, CPU per process, disconnect → user.offline at the contacts' },
  { name: 'push', summary: 'Web Push: pushes/s the push projector and sender sustain, CPU µs per push' },
  { name: 'nats', summary: 'nats-server CPU per JetStream operation (writes, acks, KV, socket writes)' },
];

async function load(name: string): Promise<ScenarioModule | { missing: string }> {
  // Look before importing: a file that is not a scenario module may be a script that runs (and
  // parses process.argv) as soon as it is imported.
  const path = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  if (!existsSync(path)) return { missing: `bench/${name}.ts is missing (not written yet)` };
  const source = readFileSync(path, 'utf8');
  const exportsRun = /export\s+(async\s+)?function\s+run\b|export\s+(const|let)\s+run\b|export\s*\{[^}]*\brun\b/.test(source);
  const exportsHelp = /export\s+(const|let)\s+help\b|export\s*\{[^}]*\bhelp\b/.test(source);
  if (!exportsRun || !exportsHelp) {
    return { missing: `bench/${name}.ts is not a scenario module yet (it does not export run(argv) and help); it may be a standalone script: npx tsx bench/${name}.ts` };
  }
  const file = `./${name}.js`;
  try {
    const m = (await import(file)) as Partial<ScenarioModule>;
    if (typeof m.run !== 'function' || typeof m.help !== 'string') return { missing: `bench/${name}.ts does not export run(argv) and help` };
    return m as ScenarioModule;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if ((e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') && String(e.message).includes(`${name}.`)) return { missing: `bench/${name}.ts is missing (not written yet)` };
    return { missing: `bench/${name}.ts failed to load: ${e.message.split('\n')[0]}` };
  }
}

function usage(): string {
  const width = Math.max(...scenarios.map((s) => s.name.length)) + 2;
  return `Usage: npm run bench -- <scenario> [flags]
       npm run bench -- <scenario> --help
       npm run bench -- --help            (every scenario and flag)

Scenarios:
${scenarios.map((s) => `  ${s.name.padEnd(width)}${s.summary}`).join('\n')}

Results go to bench/results/ (gitignored): <run>.json, <run>.md, <run>.svg.
`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`bench: no scenario given\n\n${usage()}`);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const only = name === 'help' ? rest[0] : undefined;
    const list = only ? scenarios.filter((s) => s.name === only) : scenarios;
    if (only && list.length === 0) {
      process.stderr.write(`bench: unknown scenario ${JSON.stringify(only)}\n\n${usage()}`);
      return 2;
    }
    if (!only) process.stdout.write(`${usage()}\n`);
    for (const s of list) {
      const m = await load(s.name);
      process.stdout.write(`${'='.repeat(100)}\n${'missing' in m ? `bench ${s.name}: ${m.missing}\n` : m.help.endsWith('\n') ? m.help : `${m.help}\n`}\n`);
    }
    return 0;
  }
  if (!scenarios.some((s) => s.name === name)) {
    process.stderr.write(`bench: unknown scenario ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  const m = await load(name);
  if ('missing' in m) {
    process.stderr.write(`bench: ${m.missing}\n`);
    return 2;
  }
  return m.run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
}
// scenarios clean up after themselves; exit anyway so a stray handle cannot keep the process alive
process.exit();
