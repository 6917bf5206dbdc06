/** The Markdown summary of a load run (<run>.md, and what the run prints at the end). */
import type { RunCost } from '../lib/cost.js';
import type { Summary } from '../lib/histogram.js';
import { fmtBytes, fmtMs, fmtRate, fmtUs, mdTable } from '../lib/results.js';
import type { LoadResult } from './result.js';

function latencyRow(name: string, s: Summary): (string | number)[] {
  return [name, fmtMs(s.p50), fmtMs(s.p90), fmtMs(s.p99), fmtMs(s.p999), fmtMs(s.max), fmtMs(s.mean), s.count.toLocaleString('en-US')];
}

const fmtCount = (v: number) => (Number.isFinite(v) ? (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1)) : '-');
const fmtB = (v: number) => (Number.isFinite(v) ? `${Math.round(v).toLocaleString('en-US')} B` : '-');

/** One line for the verdict: CPU per message in all, and the NATS traffic per message when measured. */
export function costLine(c: RunCost): string {
  const nats = c.nats.measured ? `${fmtCount(c.nats.perMessage.msgs)} NATS messages and ${fmtB(c.nats.perMessage.bytes)} through nats-server` : 'NATS traffic not measured';
  const perDelivery = c.cpu.total.usPerDelivery !== undefined ? ` (${fmtUs(c.cpu.total.usPerDelivery)} per delivery)` : '';
  return `Cost per message: ${fmtUs(c.cpu.total.usPerMessage)} CPU${perDelivery} (all server processes), ${nats}.`;
}

/** The "Cost per message" section: a compact table, what it is divided by, where the NATS figures come from. */
function costSection(c: RunCost, groups: boolean): string[] {
  const head = ['', 'per message sent', ...(groups ? ['per delivery'] : []), 'in the window'];
  const cpuRow = (p: RunCost['cpu']['processes'][number], bold: boolean) => {
    const b = (v: string) => (bold ? `**${v}**` : v);
    return [b(p.name === 'all server processes' ? 'CPU, all server processes' : `CPU ${p.name}`), b(fmtUs(p.usPerMessage)), ...(groups ? [b(fmtUs(p.usPerDelivery))] : []), `${p.cpuSeconds.toFixed(2)} CPU-s`];
  };
  const rows: (string | number)[][] = [...c.cpu.processes.map((p) => cpuRow(p, false)), cpuRow(c.cpu.total, true)];
  const n = c.nats;
  if (n.measured) {
    const d = n.delta;
    rows.push(
      ['NATS messages in / out / **total**', `${fmtCount(n.perMessage.inMsgs)} / ${fmtCount(n.perMessage.outMsgs)} / **${fmtCount(n.perMessage.msgs)}**`, ...(groups ? [fmtCount(n.perDelivery?.msgs ?? Number.NaN)] : []), `${fmtCount(d.inMsgs)} / ${fmtCount(d.outMsgs)}`],
      ['NATS bytes in / out / **total**', `${fmtB(n.perMessage.inBytes)} / ${fmtB(n.perMessage.outBytes)} / **${fmtB(n.perMessage.bytes)}**`, ...(groups ? [fmtB(n.perDelivery?.bytes ?? Number.NaN)] : []), `${fmtBytes(d.inBytes)} / ${fmtBytes(d.outBytes)}`],
    );
  } else rows.push(['NATS messages and bytes', 'not measured', ...(groups ? ['not measured'] : []), '']);
  const lines = ['## Cost per message (measured window)', '', mdTable(head, rows), ''];
  lines.push(`Divided by: ${c.basis}. CPU: the CPU seconds of each server process in the window (the process table below); "all server processes" leaves out the generators, the bench and the rest of the machine${c.cpu.processes.some((p) => p.name === 'postgres') ? '; postgres is every postgres process on the machine, so other work\'s queries count too' : ''}.`);
  lines.push('');
  lines.push(n.measured ? `NATS: /varz in_msgs, out_msgs, in_bytes, out_bytes over ${n.elapsedS.toFixed(1)} s; ${n.note}.` : `NATS: ${n.reason}`);
  for (const cv of c.caveats) lines.push(`- caveat: ${cv}`);
  lines.push('');
  return lines;
}

/** "Where the time goes": each Node process's V8 profile, then nats-server's Go profile (or why there is none). */
function whereTheTimeGoes(r: LoadResult): string[] {
  if (!r.profiles?.length && !r.natsProfile) return [];
  const lines = ['## Where the time goes (CPU profiles, % of busy time)', ''];
  const fnTable = (head: string, rows: { name: string; ms: number; pct: number }[], col = 'self') => mdTable([head, col, '%'], rows.map((f) => [`\`${f.name}\``, fmtMs(f.ms), `${f.pct.toFixed(1)} %`]));
  for (const p of r.profiles ?? []) {
    lines.push(`**${p.name}** (${p.file}): busy ${fmtMs(p.busyMs)} of ${fmtMs(p.totalMs)} profiled. ` + p.categories.map((c) => `${c.name} ${c.pct.toFixed(0)} %`).join(', '));
    lines.push('');
    lines.push(fnTable('function', p.functions));
    lines.push('');
  }
  const n = r.natsProfile;
  if (!n) lines.push('**nats-server**: not profiled (only with --private-nats, the nats-server the bench starts itself).', '');
  else if ('error' in n) lines.push(`**nats-server**: ${n.error}`, '');
  else {
    // the process table's figure beside the profile's: samples are a sample, /proc is the CPU time
    const proc = r.results.processes.find((p) => p.name === 'nats-server');
    lines.push(
      `**nats-server** (${n.file}, Go CPU profile of the measured window only, ${n.seconds} s): busy ${fmtMs(n.busyMs)} of ${fmtMs(n.durationMs)} = ${(n.durationMs > 0 ? n.busyMs / n.durationMs : 0).toFixed(2)} cores, ${n.samples.toLocaleString('en-US')} samples` +
        `${proc ? ` (/proc: ${proc.cpuSeconds.toFixed(1)} CPU-s in the window)` : ''}. ` +
        `Self time by package: ${n.categories.map((c) => `${c.name} ${c.pct.toFixed(0)} %`).join(', ')}.`,
    );
    lines.push('');
    lines.push(fnTable('function (self time: where the samples landed)', n.self));
    lines.push('');
    lines.push(fnTable('function (cumulative: itself and all it calls)', n.cumulative, 'cumulative'));
    lines.push('');
  }
  return lines;
}

export function markdown(r: LoadResult): string {
  const o = r.options;
  const t = r.results.throughput;
  const e = r.environment;
  const kind = o.members === 2 ? '1:1' : `groups of ${o.members}`;
  const lines: string[] = [];
  lines.push(`# Load: ${kind}, ${o.connections} connections, ${fmtRate(o.rate)} msg/s, ${o.codec}${o.fakeGateway ? ` — FAKE gateway, ${o.fakeFrames} frames (generator ceiling)` : ''}`);
  lines.push('');
  lines.push(`Run \`${r.runId}\` · ${r.startedAt} · ${r.command}`);
  lines.push('');
  lines.push(
    `**${r.verdict.ok ? 'OK' : 'FAILED'}**: lost ${r.results.lost}, duplicated ${r.results.duplicated}, rejected ${r.results.rejected}. ` +
      `Sends ${fmtRate(t.sendsPerSec)}/s (target ${fmtRate(t.targetRate)}), deliveries ${fmtRate(t.deliveriesPerSec)}/s (expected ${fmtRate(t.expectedDeliveriesPerSec)}; lowest second ${fmtRate(t.minDeliveriesPerSec)}), ` +
      `p99 send → message.new ${fmtMs(r.results.latency.new.p99)}.`,
  );
  if (r.results.cost) lines.push('', costLine(r.results.cost));
  for (const p of r.verdict.problems) lines.push(`- problem: ${p}`);
  for (const w of r.verdict.warnings) lines.push(`- warning: ${w}`);
  lines.push('');
  lines.push(`![latency, throughput and CPU over time](${r.runId}.svg)`);
  lines.push('');
  lines.push(`## Latency (from the scheduled send time, measured window of ${o.durationS} s)`);
  lines.push('');
  lines.push(
    mdTable(
      ['', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'samples'],
      [latencyRow('send → message.sent', r.results.latency.sent), latencyRow('send → message.new (every recipient)', r.results.latency.new), latencyRow('sender-loop lag', r.results.lag)],
    ),
  );
  lines.push('');
  if (r.results.cost) lines.push(...costSection(r.results.cost, o.members > 2));
  lines.push('## Throughput and counts');
  lines.push('');
  const c = r.results.counts;
  lines.push(
    mdTable(
      ['', 'value'],
      [
        ['sends/s (measured window)', fmtRate(t.sendsPerSec)],
        ['message.sent/s', fmtRate(t.confirmedPerSec)],
        ['message.new/s (deliveries)', fmtRate(t.deliveriesPerSec)],
        ['messages scheduled / sent', `${c.scheduled.toLocaleString('en-US')} / ${c.sent.toLocaleString('en-US')}`],
        ['message.sent received / message.new received (expected)', `${c.confirmed.toLocaleString('en-US')} / ${c.deliveries.toLocaleString('en-US')} (${c.expectedDeliveries.toLocaleString('en-US')})`],
        ['lost messages (missing message.sent / message.new)', `${c.lostMessages} (${c.missingSent} / ${c.missingNew})`],
        ['duplicated message.sent / message.new', `${c.duplicateSent} / ${c.duplicateNew}`],
        ['rejected (of which delivered anyway)', `${Object.entries(c.rejected).map(([k, v]) => `${k} ${v}`).join(', ') || '0'} (${c.rejectedButStored})`],
        ['other errors', Object.entries(c.otherErrors).map(([k, v]) => `${k} ${v}`).join(', ') || '0'],
        ['unexpected closes (reconnects)', `${Object.entries(c.closes).map(([k, v]) => `${k}×${v}`).join(', ') || '0'} (${c.reconnects})`],
        ['connect (slowest generator) / retried / failed', `${fmtMs(r.results.connect.msMax)} / ${r.results.connect.retries} / ${r.results.connect.failed}`],
        [`conversation set-up${o.prime ? ' and priming' : ''}`, fmtMs(r.results.setupMsMax)],
        ['frames received', Object.entries(c.frames).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ')],
      ],
    ),
  );
  lines.push('');
  const pl = r.results.pipeline;
  if (pl) {
    lines.push('## Pipeline (JetStream, measured window)');
    lines.push('');
    lines.push(
      mdTable(
        ['stage', 'appends/s (mean)', 'backlog at the end', 'backlog max'],
        [
          ['gateway → commands stored', fmtRate(pl.commandsPerSec), '', ''],
          ['engine → events appended', fmtRate(pl.eventsPerSec), fmtRate(pl.backlogEnd.engine), fmtRate(pl.backlogMax.engine)],
          ['delivery projector → inbox entries', fmtRate(pl.inboxPerSec), fmtRate(pl.backlogEnd.delivery), fmtRate(pl.backlogMax.delivery)],
          ['postgres projector', '', fmtRate(pl.backlogEnd.postgres), fmtRate(pl.backlogMax.postgres)],
        ],
      ),
    );
    lines.push('');
    lines.push('Backlog = messages the stage\'s consumers have not finished (pending + unacknowledged). A backlog that grows is the stage that cannot keep up.');
    lines.push('');
  }
  lines.push(`## Processes (measured window; CPU in % of one core, ${e.cpus} cores)`);
  lines.push('');
  lines.push(
    mdTable(
      ['process', 'pid', 'CPU mean', 'CPU max', 'CPU s', 'RSS max', 'note'],
      r.results.processes.map((p) => [p.name, p.pids.slice(0, 4).join(' ') + (p.pids.length > 4 ? ' …' : ''), `${p.cpuMean.toFixed(0)} %`, `${p.cpuMax.toFixed(0)} %`, p.cpuSeconds.toFixed(1), fmtBytes(p.rssMax), p.note ?? '']),
    ),
  );
  if (r.results.otherProcesses.length) {
    lines.push('');
    lines.push(`Busiest other processes in the window: ${r.results.otherProcesses.map((p) => `${p.name}${p.pids > 1 ? ` (×${p.pids})` : ''} ${p.cpu.toFixed(0)} %`).join(', ')}.`);
  }
  lines.push('');
  lines.push(
    mdTable(
      ['generator', 'connections', 'conversations', 'rate', 'event loop busy', 'max socket buffer', 'drain'],
      r.results.generators.map((g) => [g.worker + 1, g.connections, g.conversations, fmtRate(g.rate), `${Math.round(g.elu * 100)} %`, fmtBytes(g.maxBufferedBytes), `${fmtMs(g.drainedMs)}${g.complete ? '' : ' (incomplete)'}`]),
    ),
  );
  lines.push('');
  lines.push(...whereTheTimeGoes(r));
  lines.push('## Environment');
  lines.push('');
  lines.push(
    `${e.cpus} × ${e.cpuModel}, ${fmtBytes(e.memTotalBytes)}, node ${e.node}; load average at start ${e.loadAverage.map((v) => v.toFixed(2)).join(' ')}, ` +
      `median over the window ${e.load1Median.toFixed(2)}, at the end ${e.loadAverageEnd.map((v) => v.toFixed(2)).join(' ')}; median machine CPU busy ${e.machineBusyMedian.toFixed(0)} %. ` +
      `git ${e.git.commit ?? '?'}${e.git.dirty ? ' (with uncommitted changes)' : ''}. Target: ${e.target === 'started' ? `started by the bench (prefix ${e.prefix}${e.database ? `, read models: ${e.database}` : ''})` : e.target === 'fake-gateway' ? 'the FAKE gateway (measures the generators)' : 'a running gateway'} at ${e.url}; ` +
      `uWebSockets.js ${e.uws.native === true ? 'native' : e.uws.native === false ? `FALLBACK (${e.uws.reason ?? ''})` : 'unknown'}; NATS ${e.natsUrl}; source addresses ${e.sourceAddresses.join(', ') || 'default'}.`,
  );
  lines.push('');
  return lines.join('\n');
}
