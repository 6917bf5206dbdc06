/**
 * Hand-written SVG charts of a run over time (one point per second): latency percentiles on a log
 * scale, throughput, and CPU per process. No dependency; the output opens in any browser.
 */

export type Line = { label: string; color: string; values: (number | undefined)[]; dash?: string; width?: number };

export type Panel = {
  title: string;
  unit: string;
  lines: Line[];
  log?: boolean;
  /** Lines drawn against a second y axis on the right (e.g. deliveries next to sends). */
  right?: { unit: string; lines: Line[] };
  /** Horizontal reference lines (targets). */
  refs?: { value: number; label: string; color: string }[];
  height?: number;
};

export type Chart = {
  title: string;
  /** One line each. */
  subtitle?: string[];
  /** x values: seconds since the schedule started. */
  seconds: number[];
  /** Shaded spans (warm-up, drain) in seconds. */
  spans?: { from: number; to: number; label: string; color: string }[];
  panels: Panel[];
  width?: number;
};

export const palette = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function niceStep(range: number, ticks: number): number {
  const raw = range / Math.max(1, ticks);
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
}

export function fmtNum(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(a >= 1e4 ? 0 : 1)}k`;
  if (a >= 10 || v === 0) return `${Math.round(v)}`;
  if (a >= 1) return `${+v.toFixed(1)}`;
  return `${+v.toPrecision(2)}`;
}

type Scale = { y: (v: number) => number; ticks: number[]; fmt: (v: number) => string };

function linearScale(max: number, top: number, bottom: number): Scale {
  const step = niceStep(max || 1, 4);
  const hi = Math.max(step, Math.ceil((max || 1) / step) * step);
  const ticks: number[] = [];
  for (let v = 0; v <= hi + step / 2; v += step) ticks.push(v);
  return { y: (v) => bottom - (v / hi) * (bottom - top), ticks, fmt: fmtNum };
}

function logScale(min: number, max: number, top: number, bottom: number): Scale {
  const lo = 10 ** Math.floor(Math.log10(Math.max(min, 1e-3)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(max, lo * 10)));
  const ticks: number[] = [];
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    ticks.push(d);
    if (d * 10 <= hi * 1.0001 && hi / lo <= 1000) ticks.push(d * 2, d * 5);
  }
  const l = Math.log10(lo);
  const h = Math.log10(hi);
  return {
    y: (v) => bottom - ((Math.log10(Math.max(v, lo)) - l) / (h - l)) * (bottom - top),
    ticks: ticks.sort((a, b) => a - b),
    fmt: fmtNum,
  };
}

export function renderChart(c: Chart): string {
  const W = c.width ?? 1000;
  const left = 70;
  const right = 80;
  const plotW = W - left - right;
  const xs = c.seconds;
  const xMin = xs.length ? Math.min(...xs) : 0;
  const xMax = xs.length ? Math.max(...xs, xMin + 1) : 1;
  const x = (s: number) => left + ((s - xMin) / (xMax - xMin)) * plotW;
  const parts: string[] = [];
  let y0 = 64;
  parts.push(`<text x="${left}" y="28" font-size="18" font-weight="600">${esc(c.title)}</text>`);
  // wrap long subtitle lines at " · " to the chart's width (~6.3 px per character at 12 px)
  const maxChars = Math.floor((W - left - 10) / 6.3);
  const subtitle: string[] = [];
  for (const line of c.subtitle ?? []) {
    let cur = '';
    for (const part of line.split(' · ')) {
      const next = cur ? `${cur} · ${part}` : part;
      if (cur && next.length > maxChars) {
        subtitle.push(cur);
        cur = part;
      } else cur = next;
    }
    if (cur) subtitle.push(cur);
  }
  for (const [i, line] of subtitle.entries()) {
    parts.push(`<text x="${left}" y="${48 + i * 16}" font-size="12" fill="#4b5563">${esc(line)}</text>`);
  }
  y0 += Math.max(0, subtitle.length - 1) * 16;

  for (const p of c.panels) {
    const H = p.height ?? 220;
    const top = y0 + 26;
    const bottom = top + H;
    parts.push(`<text x="${left}" y="${y0 + 16}" font-size="14" font-weight="600">${esc(p.title)}</text>`);
    // spans
    for (const s of c.spans ?? []) {
      const a = x(Math.max(xMin, s.from));
      const b = x(Math.min(xMax, s.to));
      if (b > a) {
        parts.push(`<rect x="${a.toFixed(1)}" y="${top}" width="${(b - a).toFixed(1)}" height="${H}" fill="${s.color}" opacity="0.5"/>`);
        parts.push(`<text x="${((a + b) / 2).toFixed(1)}" y="${top + 12}" font-size="10" fill="#6b7280" text-anchor="middle">${esc(s.label)}</text>`);
      }
    }
    const all = p.lines.flatMap((l) => l.values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
    const refVals = (p.refs ?? []).map((r) => r.value);
    const yMax = Math.max(0, ...all, ...refVals);
    const yMinPos = Math.min(...all.filter((v) => v > 0), ...refVals.filter((v) => v > 0), Infinity);
    const scale = p.log ? logScale(Number.isFinite(yMinPos) ? yMinPos : 0.1, yMax || 1, top, bottom) : linearScale(yMax, top, bottom);
    // grid and y ticks
    for (const t of scale.ticks) {
      const yy = scale.y(t);
      if (yy < top - 0.5 || yy > bottom + 0.5) continue;
      parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${yy.toFixed(1)}" y2="${yy.toFixed(1)}" stroke="#e5e7eb"/>`);
      parts.push(`<text x="${left - 6}" y="${(yy + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="#374151">${scale.fmt(t)}</text>`);
    }
    parts.push(`<text x="14" y="${(top + H / 2).toFixed(1)}" font-size="11" fill="#374151" transform="rotate(-90 14 ${(top + H / 2).toFixed(1)})" text-anchor="middle">${esc(p.unit)}${p.log ? ' (log)' : ''}</text>`);
    // x ticks
    const xStep = niceStep(xMax - xMin, 10);
    for (let s = Math.ceil(xMin / xStep) * xStep; s <= xMax + 1e-9; s += xStep) {
      const xx = x(s);
      parts.push(`<line x1="${xx.toFixed(1)}" x2="${xx.toFixed(1)}" y1="${bottom}" y2="${bottom + 4}" stroke="#9ca3af"/>`);
      parts.push(`<text x="${xx.toFixed(1)}" y="${bottom + 16}" font-size="11" text-anchor="middle" fill="#374151">${fmtNum(s)}s</text>`);
    }
    parts.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${H}" fill="none" stroke="#9ca3af"/>`);
    for (const r of p.refs ?? []) {
      const yy = scale.y(r.value);
      parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${yy.toFixed(1)}" y2="${yy.toFixed(1)}" stroke="${r.color}" stroke-dasharray="6 4" stroke-width="1.2"/>`);
      parts.push(`<text x="${left + plotW - 4}" y="${(yy - 4).toFixed(1)}" font-size="10" text-anchor="end" fill="${r.color}">${esc(r.label)}</text>`);
    }
    const path = (l: Line, sc: Scale) => {
      let d = '';
      let pen = false;
      l.values.forEach((v, i) => {
        if (v === undefined || !Number.isFinite(v) || xs[i] === undefined) {
          pen = false;
          return;
        }
        const yy = Math.min(bottom, Math.max(top, sc.y(p.log ? Math.max(v, 1e-9) : v)));
        d += `${pen ? 'L' : 'M'}${x(xs[i]!).toFixed(1)},${yy.toFixed(1)}`;
        pen = true;
      });
      return d ? `<path d="${d}" fill="none" stroke="${l.color}" stroke-width="${l.width ?? 1.6}"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''} stroke-linejoin="round"/>` : '';
    };
    for (const l of p.lines) parts.push(path(l, scale));
    let legendItems = p.lines.map((l) => ({ ...l, side: '' }));
    if (p.right) {
      const rAll = p.right.lines.flatMap((l) => l.values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
      const rs = linearScale(Math.max(0, ...rAll), top, bottom);
      for (const t of rs.ticks) {
        const yy = rs.y(t);
        parts.push(`<text x="${left + plotW + 6}" y="${(yy + 4).toFixed(1)}" font-size="11" fill="#374151">${rs.fmt(t)}</text>`);
      }
      parts.push(
        `<text x="${W - 12}" y="${(top + H / 2).toFixed(1)}" font-size="11" fill="#374151" transform="rotate(90 ${W - 12} ${(top + H / 2).toFixed(1)})" text-anchor="middle">${esc(p.right.unit)}</text>`,
      );
      for (const l of p.right.lines) parts.push(path({ ...l }, { ...rs, y: rs.y }));
      legendItems = legendItems.concat(p.right.lines.map((l) => ({ ...l, side: ' (right axis)' })));
    }
    // legend, under the panel
    let lx = left;
    let ly = bottom + 34;
    for (const l of legendItems) {
      const text = `${l.label}${l.side}`;
      if (lx > left && lx + 30 + text.length * 6.2 > W - 10) {
        lx = left;
        ly += 16;
      }
      parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${l.color}" stroke-width="2.5"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''}/>`);
      parts.push(`<text x="${lx + 22}" y="${ly}" font-size="11" fill="#111827">${esc(text)}</text>`);
      lx += 30 + text.length * 6.2;
    }
    y0 = ly + 16;
  }
  const H = y0 + 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
<rect width="100%" height="100%" fill="#ffffff"/>
${parts.filter(Boolean).join('\n')}
</svg>
`;
}
