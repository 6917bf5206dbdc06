/** The log's times (nanoseconds since the epoch) to ISO 8601 and back, to the nanosecond. */

let isoCache = { second: -1n, prefix: '' };

/** Nanoseconds since the epoch → ISO 8601 UTC with nine fraction digits. */
export function isoFromNanos(ns: bigint): string {
  let second = ns / 1_000_000_000n;
  let frac = ns - second * 1_000_000_000n;
  if (frac < 0n) {
    second -= 1n;
    frac += 1_000_000_000n;
  }
  // Many events share a second: format its date and time once.
  if (isoCache.second !== second) isoCache = { second, prefix: new Date(Number(second) * 1000).toISOString().slice(0, -5) };
  return `${isoCache.prefix}.${frac.toString().padStart(9, '0')}Z`;
}

/**
 * ISO 8601 → nanoseconds since the epoch, keeping up to nine fraction digits. A date alone is
 * midnight UTC; a date-time needs Z or an offset (a local time would be ambiguous).
 */
export function nanosFromIso(text: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2}:\d{2})(:\d{2})?(?:[.,](\d+))?([Zz]|[+-]\d{2}:?\d{2}))?$/.exec(text.trim());
  if (!m) return undefined;
  const [, date, hm, secs = ':00', fraction = '', zone] = m;
  const offset = zone === undefined ? 'Z' : /^[Zz]$/.test(zone) ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone;
  const base = hm === undefined ? `${date}T00:00:00Z` : `${date}T${hm}${secs}${offset}`;
  const ms = Date.parse(base);
  if (Number.isNaN(ms) || !isoDateIsReal(date!)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt(fraction.slice(0, 9).padEnd(9, '0'));
}

function isoDateIsReal(date: string): boolean {
  const d = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(date);
}
