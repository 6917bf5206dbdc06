// The arithmetic of `bench load`'s cost per message (bench/lib/cost.ts): CPU per process and in
// all, nats-server's traffic per message from /varz, and what the report says when it has none.
import t from 'tap';
import { countersOfVarz, cpuCost, isServerProcess, natsPort, natsTraffic, per, runCost, varzUrl, type RunCostInput } from '../../bench/lib/cost.js';

const processes = [
  { name: 'engine', cpuSeconds: 1.1 },
  { name: 'projector', cpuSeconds: 1.65 },
  { name: 'gateway', cpuSeconds: 1.55 },
  { name: 'nats-server', cpuSeconds: 3.25 },
  { name: 'postgres', cpuSeconds: 0.6 },
  { name: 'generator-1', cpuSeconds: 2 },
  { name: 'generator-2', cpuSeconds: 2 },
  { name: 'bench', cpuSeconds: 0.1 },
  { name: 'rest of the machine', cpuSeconds: 9 },
];

t.test('per: a quotient, NaN when there is nothing to divide by', async (t) => {
  t.equal(per(3, 4), 0.75);
  t.ok(Number.isNaN(per(3, 0)), 'no messages: NaN, not Infinity');
  t.ok(Number.isNaN(per(Number.NaN, 10)), 'no figure: NaN, not 0');
});

t.test('server processes: everything but the generators, the bench and the rest of the machine', async (t) => {
  t.same(
    processes.filter((p) => isServerProcess(p.name)).map((p) => p.name),
    ['engine', 'projector', 'gateway', 'nats-server', 'postgres'],
  );
  t.ok(isServerProcess('projector-2'), 'a second projector counts');
  t.ok(isServerProcess('all'), '--processes one counts');
  t.notOk(isServerProcess('generator-12'));
});

t.test('CPU per message: per process and in all, the generators left out', async (t) => {
  const c = cpuCost(processes, isServerProcess, { messages: 10_000, deliveries: 10_000, members: 2 });
  t.same(c.processes.map((p) => [p.name, Math.round(p.usPerMessage)]), [
    ['engine', 110],
    ['projector', 165],
    ['gateway', 155],
    ['nats-server', 325],
    ['postgres', 60],
  ]);
  t.equal(Math.round(c.total.cpuSeconds * 100) / 100, 8.15);
  t.equal(Math.round(c.total.usPerMessage), 815);
  t.equal(c.total.usPerDelivery, undefined, '1:1: no per-delivery figure (it is the per-message one)');
});

t.test('CPU per delivery for groups; a process without a figure stays out of the total', async (t) => {
  const c = cpuCost(
    [
      { name: 'gateway', cpuSeconds: 4.9 },
      { name: 'engine', cpuSeconds: Number.NaN },
    ],
    isServerProcess,
    { messages: 1000, deliveries: 49_000, members: 50 },
  );
  t.equal(c.total.cpuSeconds, 4.9);
  t.equal(c.total.usPerMessage, 4900);
  t.equal(c.total.usPerDelivery, 100);
  t.ok(Number.isNaN(c.processes[1]!.usPerMessage));
  t.ok(Number.isNaN(cpuCost([], isServerProcess, { messages: 10, deliveries: 10, members: 2 }).total.usPerMessage), 'no server process: NaN, not 0');
});

t.test('/varz: the four counters, or an error', async (t) => {
  t.same(countersOfVarz({ in_msgs: 1, out_msgs: 2, in_bytes: 30, out_bytes: 40, port: 4222 }), { inMsgs: 1, outMsgs: 2, inBytes: 30, outBytes: 40 });
  t.throws(() => countersOfVarz({ in_msgs: 1, out_msgs: 2, in_bytes: 30 }), /out_bytes/);
  t.throws(() => countersOfVarz({ in_msgs: '1', out_msgs: 2, in_bytes: 30, out_bytes: 4 }), /in_msgs/);
  t.throws(() => countersOfVarz(null), /in_msgs/);
  t.equal(varzUrl('http://127.0.0.1:8222'), 'http://127.0.0.1:8222/varz');
  t.equal(varzUrl('http://127.0.0.1:8222/'), 'http://127.0.0.1:8222/varz');
  t.equal(varzUrl('http://127.0.0.1:8222/varz'), 'http://127.0.0.1:8222/varz');
  t.equal(varzUrl('http://h:1/nats/'), 'http://h:1/nats/varz');
  t.throws(() => varzUrl('nats://127.0.0.1:4222'), /http/);
  t.equal(natsPort('nats://127.0.0.1:40983'), 40983);
  t.equal(natsPort('nats://a:1111,nats://b:2222'), 1111);
  t.equal(natsPort('nats://localhost'), 4222);
});

t.test('NATS traffic per message: deltas over the window ÷ messages sent', async (t) => {
  const before = { inMsgs: 1000, outMsgs: 2000, inBytes: 100_000, outBytes: 200_000 };
  const after = { inMsgs: 1000 + 77_000, outMsgs: 2000 + 118_000, inBytes: 100_000 + 2_100_000, outBytes: 200_000 + 4_200_000 };
  const n = natsTraffic(before, after, { messages: 10_000, deliveries: 10_000, members: 2 });
  t.same(n.delta, { inMsgs: 77_000, outMsgs: 118_000, inBytes: 2_100_000, outBytes: 4_200_000 });
  t.same(n.perMessage, { inMsgs: 7.7, outMsgs: 11.8, msgs: 19.5, inBytes: 210, outBytes: 420, bytes: 630 });
  t.equal(n.perDelivery, undefined);
  const g = natsTraffic(before, after, { messages: 1000, deliveries: 49_000, members: 50 });
  t.same(g.perDelivery, { msgs: 195_000 / 49_000, bytes: 6_300_000 / 49_000 });
  t.throws(() => natsTraffic(after, before, { messages: 1, deliveries: 1, members: 2 }), /went down/);
});

const input = (over: Partial<RunCostInput> = {}): RunCostInput => ({
  processes,
  isServer: isServerProcess,
  basis: { messages: 10_000, deliveries: 10_000, members: 2 },
  windowS: 5,
  expectedDeliveries: 10_000,
  rejected: 0,
  nats: {},
  natsUrl: 'nats://127.0.0.1:4222',
  ...over,
});
const window = { before: { inMsgs: 0, outMsgs: 0, inBytes: 0, outBytes: 0 }, after: { inMsgs: 70_000, outMsgs: 120_000, inBytes: 2e6, outBytes: 4e6 }, elapsedS: 5.01 };

t.test('run cost without a monitoring endpoint: not measured, and how to measure it', async (t) => {
  const c = runCost(input());
  t.equal(c.nats.measured, false);
  if (!c.nats.measured) {
    t.match(c.nats.reason, /not measured/);
    t.match(c.nats.reason, /--private-nats/);
    t.match(c.nats.reason, /--nats-monitor/);
    t.match(c.nats.reason, /127\.0\.0\.1:4222/);
  }
  t.notOk('perMessage' in c.nats, 'no zeros standing in for a figure');
  t.equal(Math.round(c.cpu.total.usPerMessage), 815);
  t.match(c.basis, /messages sent in the measured window \(10,000 in 5 s\)/);
  t.equal(c.caveats.length, 1);
  t.match(c.caveats[0], /nats-server's CPU is that of a server other clients may use too/);
});

t.test('run cost from a private server, from a shared one, and when the read failed', async (t) => {
  const p = runCost(input({ nats: { monitorUrl: 'http://127.0.0.1:9', ...window }, natsSource: 'private' }));
  t.equal(p.nats.measured && p.nats.source, 'private');
  t.equal(p.nats.measured && p.nats.perMessage.msgs, 19);
  t.equal(p.nats.measured && p.nats.perMessage.bytes, 600);
  t.match(p.nats.measured && p.nats.note, /this run's traffic only/);
  t.same(p.caveats, [], 'a private nats-server: its CPU is this run\'s');

  const s = runCost(input({ nats: { monitorUrl: 'http://127.0.0.1:8222', ...window, port: 4222 }, natsSource: 'monitor' }));
  t.equal(s.nats.measured && s.nats.source, 'monitor');
  t.match(s.nats.measured && s.nats.note, /shared nats-server counts every other client's traffic too/);
  t.notMatch(s.nats.measured && s.nats.note, /WARNING/);
  const other = runCost(input({ nats: { monitorUrl: 'http://127.0.0.1:8222', ...window, port: 5222 }, natsSource: 'monitor' }));
  t.match(other.nats.measured && other.nats.note, /WARNING: that server listens on port 5222/);

  const failed = runCost(input({ nats: { monitorUrl: 'http://127.0.0.1:8222', error: 'connection refused' }, natsSource: 'monitor' }));
  t.equal(failed.nats.measured, false);
  t.match(!failed.nats.measured && failed.nats.reason, /connection refused/);
});

t.test('run cost caveats: refused sends, a system that fell behind; groups per delivery', async (t) => {
  const c = runCost(input({ rejected: 12, basis: { messages: 10_000, deliveries: 9_000, members: 2 }, natsSource: 'private' }));
  t.equal(c.caveats.length, 2);
  t.match(c.caveats[0], /12 send\(s\) were refused/);
  t.match(c.caveats[1], /fell behind \(9,000 deliveries in the window of 10,000 expected\)/);
  const g = runCost(input({ basis: { messages: 1000, deliveries: 49_000, members: 50 }, expectedDeliveries: 49_000, natsSource: 'private' }));
  t.match(g.basis, /per delivery: ÷ message\.new received in the window \(49,000\)/);
  t.equal(Math.round(g.cpu.total.usPerDelivery!), Math.round(8.15e6 / 49_000));
  t.same(g.caveats, []);
});

t.test('load flags: --private-nats and --nats-monitor', async (t) => {
  const { parseOptions } = await import('../../bench/load/options.js');
  const o = parseOptions(['--private-nats']);
  t.ok(o !== 'help' && o.privateNats && o.natsMonitor === undefined);
  const m = parseOptions(['--nats', 'nats://127.0.0.1:5222', '--nats-monitor', 'http://127.0.0.1:8222']);
  t.ok(m !== 'help' && !m.privateNats && m.natsMonitor === 'http://127.0.0.1:8222' && m.natsUrl === 'nats://127.0.0.1:5222');
  for (const other of [['--nats', 'nats://127.0.0.1:5222'], ['--nats-monitor', 'http://127.0.0.1:8222'], ['--url', 'ws://127.0.0.1:1/ws'], ['--fake-gateway'], ['--keep']]) {
    t.throws(() => parseOptions(['--private-nats', ...other]), new RegExp(`--private-nats and ${other[0]} exclude each other`));
  }
  t.throws(() => parseOptions(['--nats-monitor', 'nats://127.0.0.1:4222']), /--nats-monitor must be an http:\/\/ URL/);
  t.throws(() => parseOptions(['--nats-monitor', 'http://127.0.0.1:8222', '--fake-gateway']), /exclude each other/);
});

t.test('load flags: --projectors sets the delivery partitions and needs separate processes and Postgres', async (t) => {
  const { parseOptions } = await import('../../bench/load/options.js');
  const o = parseOptions(['--projectors', '3']);
  t.ok(o !== 'help' && o.projectors === 3 && o.env.PARLEY_DELIVERY_PARTITIONS === '3', 'one delivery partition per projector');
  const kept = parseOptions(['--projectors', '2', '--env', 'PARLEY_DELIVERY_PARTITIONS=4']);
  t.ok(kept !== 'help' && kept.env.PARLEY_DELIVERY_PARTITIONS === '4', 'an explicit --env wins');
  t.throws(() => parseOptions(['--projectors', '2', '--processes', 'two']), /--projectors needs --processes separate/);
  t.throws(() => parseOptions(['--projectors', '2', '--database-url', 'embedded']), /--projectors needs Postgres/);
});

t.test('compare: cost rows for runs that have them, none for older runs', async (t) => {
  const { compareMarkdown } = await import('../../bench/compare.js');
  const runCostResults = (us: number, msgs: number) => ({
    cost: {
      cpu: { total: { name: 'all server processes', cpuSeconds: 1, usPerMessage: us }, processes: [{ name: 'gateway', cpuSeconds: 1, usPerMessage: us / 4 }] },
      nats: { measured: true, perMessage: { msgs, bytes: msgs * 300 } },
    },
  });
  const run = (us: number, msgs: number) => ({
    scenario: 'load',
    options: { privateNats: true, natsUrl: `nats://127.0.0.1:${us}` },
    results: runCostResults(us, msgs),
  });
  const md = compareMarkdown(run(800, 19.5), run(400, 8), 'a', 'b');
  t.match(md, /\| CPU µs per message, all server processes \| 800 µs \| 400 µs \| 0\.50× ✓ \|/);
  t.match(md, /\| CPU µs per message, gateway \| 200 µs \| 100 µs \| 0\.50× ✓ \|/);
  t.match(md, /\| NATS messages per message \| 19\.5 \| 8\.0 \| 0\.41× ✓ \|/);
  t.match(md, /\| NATS bytes per message \| 5850 \| 2400 \| 0\.41× ✓ \|/);
  t.notMatch(md, /natsUrl/, 'private servers\' ports are not a difference');
  const old = compareMarkdown({ scenario: 'load', results: {} }, { scenario: 'load', results: {} }, 'a', 'b');
  t.notMatch(old, /per message/, 'runs without cost figures: no empty rows');
});
