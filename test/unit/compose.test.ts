// docker-compose.yml as a newcomer meets it (issue 20): it refuses to load without a JWT secret,
// every Parley service runs a real `parley start --role <role>`, healthchecks ask for paths the
// processes serve on the ports they serve them on, nothing is published beyond 127.0.0.1 unless
// asked, and EventStoreDB (and the mirror to it) only with the `audit` profile.
//
// The file is resolved by `docker compose config --format json` when the Compose plugin is there
// (the real parser); otherwise by a small stand-in (YAML with merge keys, ${VAR}, ${VAR:-d},
// ${VAR:?err}, profiles, short port syntax) so that the checks still run, and the test says so.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ROLES } from '../../cli/start.js';
import { DEV_JWT_SECRET } from '../../lib/config.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const TEST_SECRET = 'compose-test-secret-0123456789abcdef';
/** Services whose ports may be published beyond loopback, and only when PARLEY_PUBLISH_ADDRESS says so. */
const PUBLIC_SERVICES = new Set(['gateway-1', 'gateway-2']);
/** What the processes serve (gateway/app-routes.ts; app/ops-server.ts per the issue-20 contract). */
const SERVED_PATHS = new Set(['/ready', '/health']);
const METRICS_PORT_DEFAULT = 9464;

type Port = { host_ip?: string; published?: string; target: number };
type Service = {
  command?: string[];
  ports?: Port[];
  healthcheck?: { test?: string[] };
  environment?: Record<string, string | null>;
  profiles?: string[];
  image?: string;
  build?: unknown;
};
type Resolved = { services: Record<string, Service> };
type Loaded = { ok: true; config: Resolved } | { ok: false; error: string };

function composePlugin(): boolean {
  const r = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  return r.status === 0;
}

/** Only the variables a test names: the caller's PARLEY_* must not change what is checked. */
function cleanEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...vars };
}

function loadWithDocker(env: Record<string, string>, profiles: string[]): Loaded {
  const args = ['compose', '-f', COMPOSE_FILE, ...profiles.flatMap((p) => ['--profile', p]), 'config', '--format', 'json'];
  const r = spawnSync('docker', args, { encoding: 'utf8', cwd: ROOT, env: cleanEnv(env) });
  if (r.status !== 0) return { ok: false, error: r.stderr };
  return { ok: true, config: JSON.parse(r.stdout) as Resolved };
}

/** The stand-in: enough of the Compose specification for this file. */
function loadWithoutDocker(env: Record<string, string>, profiles: string[]): Loaded {
  const doc = parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as { services: Record<string, Record<string, unknown>> };
  const errors: string[] = [];
  const interpolate = (value: unknown): unknown => {
    if (typeof value === 'string') {
      return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_all, name: string, op: string | undefined, arg: string) => {
        const v = env[name];
        const unset = op?.startsWith(':') ? !v : v === undefined;
        if (op?.endsWith('?') && unset) errors.push(`required variable ${name} is missing a value: ${arg}`);
        if (op?.endsWith('-') && unset) return arg;
        return v ?? '';
      });
    }
    if (Array.isArray(value)) return value.map(interpolate);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v)]));
    return value;
  };
  const services: Record<string, Service> = {};
  for (const [name, raw] of Object.entries(doc.services)) {
    const s = interpolate(raw) as Record<string, unknown>;
    const own = (s.profiles as string[] | undefined) ?? [];
    if (own.length > 0 && !own.some((p) => profiles.includes(p))) continue;
    const ports = ((s.ports as string[] | undefined) ?? []).map((p): Port => {
      const parts = p.split(':');
      if (parts.length === 3) return { host_ip: parts[0]!, published: parts[1]!, target: Number(parts[2]) };
      if (parts.length === 2) return { published: parts[0]!, target: Number(parts[1]) };
      return { target: Number(parts[0]) };
    });
    services[name] = { ...(s as Service), ports };
  }
  if (errors.length > 0) return { ok: false, error: errors.join('\n') };
  return { ok: true, config: { services } };
}

const withDocker = composePlugin();
const load = withDocker ? loadWithDocker : loadWithoutDocker;
if (!withDocker) {
  t.comment('the Docker Compose plugin is not installed (`docker compose version` failed): checking with the stand-in parser');
}

function loaded(env: Record<string, string>, profiles: string[] = []): Resolved {
  const r = load(env, profiles);
  if (!r.ok) throw new Error(`the compose file did not load: ${r.error}`);
  return r.config;
}

const parleyServices = (c: Resolved) => Object.entries(c.services).filter(([, s]) => s.image === 'parley:dev' || s.build !== undefined);

t.test('refuses to load without PARLEY_JWT_SECRET, and says how to run a demo', async (t) => {
  const r = load({}, []);
  t.equal(r.ok, false, 'no secret: no configuration');
  if (!r.ok) {
    t.match(r.error, /PARLEY_JWT_SECRET/);
    t.match(r.error, /deploy\/demo\.env/);
  }
});

t.test('with a secret: no public development secret, and no demo, anywhere', async (t) => {
  const c = loaded({ PARLEY_JWT_SECRET: TEST_SECRET });
  const parley = parleyServices(c);
  t.ok(parley.length >= 6, 'gateways, engines and projectors');
  for (const [name, s] of parley) {
    t.equal(s.environment?.PARLEY_JWT_SECRET, TEST_SECRET, `${name}: the secret given`);
    t.equal(s.environment?.PARLEY_DEMO, 'off', `${name}: the demo off`);
  }
  t.notMatch(JSON.stringify(c), DEV_JWT_SECRET, 'the development secret appears nowhere');
});

t.test('deploy/demo.env is what it says: the development secret and the demo, on loopback only', async (t) => {
  const vars = Object.fromEntries(
    readFileSync(join(ROOT, 'deploy', 'demo.env'), 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  t.strictSame(Object.keys(vars).sort(), ['PARLEY_DEMO', 'PARLEY_JWT_SECRET']);
  t.equal(vars.PARLEY_JWT_SECRET, DEV_JWT_SECRET);
  const c = loaded(vars);
  for (const [name, s] of Object.entries(c.services)) {
    for (const p of s.ports ?? []) t.equal(p.host_ip, '127.0.0.1', `${name}: ${p.published} on loopback`);
  }
});

t.test('every Parley service runs a real role', async (t) => {
  const c = loaded({ PARLEY_JWT_SECRET: TEST_SECRET }, ['audit']);
  for (const [name, s] of parleyServices(c)) {
    const cmd = s.command ?? [];
    t.equal(cmd[0], 'start', `${name}: parley start`);
    t.equal(cmd[1], '--role', `${name}: --role`);
    t.ok((ROLES as readonly string[]).includes(cmd[2] ?? ''), `${name}: role ${cmd[2]} is one of ${ROLES.join(', ')}`);
    t.equal(cmd.length, 3, `${name}: nothing else`);
  }
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  t.match(dockerfile, /ENTRYPOINT \["node", [^\]]*"bin\/parley\.mjs"\]/, 'the image runs bin/parley.mjs, so `start` is its command');
});

t.test('healthchecks ask for /ready or /health on the port the role serves them, with a tool the image has', async (t) => {
  const c = loaded({ PARLEY_JWT_SECRET: TEST_SECRET }, ['audit']);
  const gatewaySource = readFileSync(join(ROOT, 'gateway', 'app-routes.ts'), 'utf8');
  t.match(gatewaySource, "'/health'", 'the gateway serves /health');
  for (const [name, s] of parleyServices(c)) {
    const test = s.healthcheck?.test ?? [];
    t.ok(test.length > 0, `${name} has a healthcheck`);
    t.equal(test[0], 'CMD', `${name}: exec form`);
    t.equal(test[1], 'node', `${name}: node (the node:*-slim image has no wget or curl)`);
    const url = /fetch\('(http:\/\/[^']+)'\)/.exec(test.join(' '))?.[1];
    t.ok(url, `${name}: fetches a URL`);
    if (!url) continue;
    const u = new URL(url);
    t.ok(SERVED_PATHS.has(u.pathname), `${name}: ${u.pathname} is served`);
    t.equal(u.pathname, '/ready', `${name}: readiness, not only liveness`);
    const role = s.command?.[2];
    const env = s.environment ?? {};
    const expectedPort = role === 'gateway' || role === 'all' ? Number(env.PARLEY_PORT ?? 8080) : Number(env.PARLEY_METRICS_PORT ?? METRICS_PORT_DEFAULT);
    t.equal(Number(u.port), expectedPort, `${name}: the ${role} port`);
    t.ok(u.hostname === '127.0.0.1', `${name}: inside the container`);
  }
});

t.test('ports: loopback unless public, and public only when PARLEY_PUBLISH_ADDRESS says so', async (t) => {
  const local = loaded({ PARLEY_JWT_SECRET: TEST_SECRET }, ['audit']);
  for (const [name, s] of Object.entries(local.services)) {
    for (const p of s.ports ?? []) t.equal(p.host_ip, '127.0.0.1', `${name}: ${p.published}->${p.target} on 127.0.0.1`);
  }
  const published = loaded({ PARLEY_JWT_SECRET: TEST_SECRET, PARLEY_PUBLISH_ADDRESS: '0.0.0.0' }, ['audit']);
  for (const [name, s] of Object.entries(published.services)) {
    for (const p of s.ports ?? []) {
      t.equal(p.host_ip, PUBLIC_SERVICES.has(name) ? '0.0.0.0' : '127.0.0.1', `${name}: ${p.published}->${p.target}`);
    }
  }
});

t.test('EventStoreDB and the audit mirror only with the audit profile', async (t) => {
  const plain = loaded({ PARLEY_JWT_SECRET: TEST_SECRET });
  t.notOk(plain.services.eventstore, 'no eventstore service by default');
  for (const [name, s] of parleyServices(plain)) t.notOk(s.environment?.EVENTSTORE_URL, `${name}: no mirror`);
  const audit = loaded({ PARLEY_JWT_SECRET: TEST_SECRET, PARLEY_EVENTSTORE_URL: 'esdb://eventstore:2113?tls=false' }, ['audit']);
  t.ok(audit.services.eventstore, 'the eventstore service with the profile');
  const mirrors = parleyServices(audit).filter(([, s]) => s.environment?.EVENTSTORE_URL);
  t.strictSame(mirrors.map(([n]) => n).sort(), ['projector-1', 'projector-2'], 'the projectors mirror');
  for (const [, s] of mirrors) t.match(s.environment!.EVENTSTORE_URL!, /^esdb:\/\/eventstore:2113/);
});

t.test('.dockerignore keeps local state and dependencies out of the image', async (t) => {
  const lines = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const must of ['node_modules', '.git', '.parley', '.cache', '.env', 'bench/results']) t.ok(lines.includes(must), must);
});

// For the stand-in's honesty: when the plugin exists the real parser is used (and its JSON has these shapes).
t.test('the checker in use', async (t) => {
  if (withDocker) t.ok(execFileSync('docker', ['compose', 'version'], { encoding: 'utf8' }).length > 0, 'docker compose');
  else t.pass('stand-in parser (no Docker Compose plugin on this machine)');
});
