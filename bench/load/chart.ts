/** The SVG of a load run (<run>.svg): latency percentiles, throughput, CPU per process and the pipeline backlog over time. */
import { fmtNum, palette, renderChart, type Line } from '../lib/chart.js';
import { fmtMs, fmtRate } from '../lib/results.js';
import type { LoadResult } from './result.js';

export function chart(r: LoadResult): string {
  const o = r.options;
  const s = r.series;
  const secs = s.map((x) => x.t + 0.5);
  const lat = (k: 'p50' | 'p90' | 'p99' | 'max', which: 'new' | 'sent') => s.map((x) => (x[which].n ? x[which][k] : undefined));
  const procNames = r.results.processes.map((p) => p.name).filter((n) => s.some((x) => (x.cpu[n] ?? 0) > 2));
  const cpuLines: Line[] = procNames.map((n, i) =>
    n === 'rest of the machine'
      ? { label: 'rest of the machine', color: '#9ca3af', dash: '4 3', values: s.map((x) => x.cpu[n]) }
      : { label: n, color: palette[i % palette.length]!, values: s.map((x) => x.cpu[n]) },
  );
  const cores = r.environment.cpus;
  cpuLines.push({ label: `whole machine (${cores * 100} % = all ${cores} cores busy)`, color: '#111827', dash: '2 3', values: s.map((x) => (x.machineBusy === undefined ? undefined : x.machineBusy * cores)) });
  const t = r.results.throughput;
  const l = r.results.latency.new;
  return renderChart({
    title: `${o.fakeGateway ? `FAKE gateway, ${o.fakeFrames} frames (generator ceiling)` : 'Parley load'}: ${o.members === 2 ? '1:1' : `groups of ${o.members}`}, ${o.connections} connections, ${fmtRate(o.rate)} msg/s, ${o.codec}${r.environment.uws.native === true ? '' : ' — uWS FALLBACK'}`,
    subtitle: [
      `measured ${o.durationS} s: send → message.new p50 ${fmtMs(l.p50)}, p90 ${fmtMs(l.p90)}, p99 ${fmtMs(l.p99)}, p99.9 ${fmtMs(l.p999)}, max ${fmtMs(l.max)} · ` +
        `${fmtRate(t.sendsPerSec)} sends/s, ${fmtRate(t.deliveriesPerSec)} deliveries/s · lost ${r.results.lost}, duplicated ${r.results.duplicated}`,
      `${r.runId} · load average ${r.environment.load1Median.toFixed(1)} on ${r.environment.cpus} cores · git ${r.environment.git.commit ?? '?'}${r.environment.git.dirty ? '+changes' : ''}`,
    ],
    seconds: secs,
    spans: [
      { from: 0, to: o.warmupS, label: 'warm-up', color: '#fef3c7' },
      { from: o.warmupS + o.durationS, to: Math.max(...secs, o.warmupS + o.durationS), label: 'drain', color: '#e5e7eb' },
    ],
    panels: [
      {
        title: 'Latency by scheduled send second, from the scheduled time (send → message.new, every recipient)',
        unit: 'ms',
        log: true,
        lines: [
          { label: 'p50', color: '#16a34a', values: lat('p50', 'new') },
          { label: 'p90', color: '#2563eb', values: lat('p90', 'new') },
          { label: 'p99', color: '#ea580c', values: lat('p99', 'new'), width: 2.2 },
          { label: 'max', color: '#dc2626', values: lat('max', 'new'), width: 1 },
          { label: 'message.sent p99', color: '#9333ea', values: lat('p99', 'sent'), dash: '5 4' },
          { label: 'sender lag max', color: '#6b7280', values: s.map((x) => (x.lagMaxMs > 0 ? x.lagMaxMs : undefined)), dash: '1 3', width: 1 },
        ],
        height: 240,
      },
      {
        title: 'Throughput per second (by arrival)',
        unit: 'messages/s',
        lines: [
          { label: 'sends', color: '#2563eb', values: s.map((x) => x.sends) },
          { label: 'message.sent', color: '#9333ea', values: s.map((x) => x.confirmed), dash: '5 4' },
          ...(o.members === 2 ? [{ label: 'message.new', color: '#16a34a', values: s.map((x) => x.deliveries) }] : []),
        ],
        refs: [{ value: o.rate, label: `target ${fmtNum(o.rate)}/s`, color: '#6b7280' }],
        ...(o.members > 2 ? { right: { unit: 'deliveries/s', lines: [{ label: 'message.new (deliveries)', color: '#16a34a', values: s.map((x) => x.deliveries) }] } } : {}),
        height: 180,
      },
      { title: 'CPU per process (% of one core)', unit: '% of a core', lines: cpuLines, height: 200 },
      ...(s.some((x) => x.pipeline)
        ? [
            {
              title: 'Pipeline backlog: work queued in JetStream per stage (a growing line is the stage that cannot keep up)',
              unit: 'messages queued',
              lines: [
                { label: 'engine (commands)', color: '#2563eb', values: s.map((x) => x.pipeline?.engine) },
                { label: 'delivery projector (events)', color: '#16a34a', values: s.map((x) => x.pipeline?.delivery) },
                { label: 'postgres projector (events)', color: '#ea580c', values: s.map((x) => x.pipeline?.postgres) },
              ],
              height: 160,
            },
          ]
        : []),
    ],
  });
}
