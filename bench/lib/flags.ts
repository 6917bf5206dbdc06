/**
 * Flags for bench scenarios: one table per scenario gives the parser and the help text, so every
 * flag is documented where it is defined. Values are `--name value` or `--name=value`; booleans take
 * no value; `list` flags may be repeated.
 */

export type FlagKind = 'int' | 'number' | 'string' | 'bool' | 'list';

export type FlagSpec = {
  name: string;
  kind: FlagKind;
  /** Shown in the help; `undefined` means "no default" (the flag is optional). */
  default?: string | number | boolean;
  /** Placeholder for the value in the help, e.g. `<n>`. */
  value?: string;
  help: string;
  /** For `string`: the allowed values. */
  choices?: readonly string[];
  /** For `int`/`number`: inclusive bounds. */
  min?: number;
  max?: number;
};

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export class FlagError extends Error {
  override name = 'FlagError';
}

export function parseFlags(specs: readonly FlagSpec[], argv: readonly string[]): { values: FlagValues; positionals: string[] } {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values: FlagValues = {};
  const positionals: string[] = [];
  for (const s of specs) {
    if (s.kind === 'list') values[s.name] = [];
    else if (s.default !== undefined) values[s.name] = s.default;
    else if (s.kind === 'bool') values[s.name] = false;
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h') {
      values.help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = byName.get(name);
    if (!spec) throw new FlagError(`unknown flag --${name}`);
    if (spec.kind === 'bool') {
      if (eq > 0) {
        const v = arg.slice(eq + 1);
        if (!/^(true|false|1|0)$/.test(v)) throw new FlagError(`--${name} takes no value (or true/false), got ${JSON.stringify(v)}`);
        values[name] = v === 'true' || v === '1';
      } else values[name] = true;
      continue;
    }
    let raw: string;
    if (eq > 0) raw = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new FlagError(`--${name} needs a value`);
      raw = next;
      i++;
    }
    values[name] = convert(spec, raw, values[name]);
  }
  return { values, positionals };
}

function convert(spec: FlagSpec, raw: string, previous: FlagValues[string]): FlagValues[string] {
  const name = `--${spec.name}`;
  switch (spec.kind) {
    case 'int':
    case 'number': {
      const v = Number(raw.replace(/_/g, ''));
      if (raw.trim() === '' || !Number.isFinite(v) || (spec.kind === 'int' && !Number.isInteger(v))) {
        throw new FlagError(`${name} must be ${spec.kind === 'int' ? 'a whole number' : 'a number'}, got ${JSON.stringify(raw)}`);
      }
      if (spec.min !== undefined && v < spec.min) throw new FlagError(`${name} must be ≥ ${spec.min}, got ${v}`);
      if (spec.max !== undefined && v > spec.max) throw new FlagError(`${name} must be ≤ ${spec.max}, got ${v}`);
      return v;
    }
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) throw new FlagError(`${name} must be one of ${spec.choices.join(', ')}, got ${JSON.stringify(raw)}`);
      return raw;
    case 'list':
      return [...((previous as string[] | undefined) ?? []), raw];
    default:
      return raw;
  }
}

/** The help lines for a flag table: `  --name <v>   help (default x)`. */
export function flagsHelp(specs: readonly FlagSpec[]): string {
  const left = specs.map((s) => `  --${s.name}${s.kind === 'bool' ? '' : ` ${s.value ?? (s.kind === 'int' || s.kind === 'number' ? '<n>' : '<value>')}`}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return specs
    .map((s, i) => {
      const def = s.default !== undefined && s.kind !== 'bool' ? ` (default ${s.default})` : '';
      const choices = s.choices ? ` [${s.choices.join('|')}]` : '';
      const text = `${s.help}${choices}${def}`;
      return wrap(left[i]!.padEnd(width), text, width);
    })
    .join('\n');
}

function wrap(head: string, text: string, indent: number, columns = 100): string {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let line = head;
  for (const w of words) {
    if (line.length + w.length + 1 > columns && line.trim().length > 0 && line.length > indent) {
      lines.push(line.trimEnd());
      line = ' '.repeat(indent);
    }
    line += (line.length === indent || line.endsWith(' ') ? '' : ' ') + w;
  }
  lines.push(line.trimEnd());
  return lines.join('\n');
}

/** Typed getters over parsed values (the table guarantees the types). */
export function getters(values: FlagValues) {
  return {
    int: (name: string) => values[name] as number,
    num: (name: string) => values[name] as number,
    str: (name: string) => values[name] as string,
    optStr: (name: string) => values[name] as string | undefined,
    optNum: (name: string) => values[name] as number | undefined,
    bool: (name: string) => values[name] === true,
    list: (name: string) => (values[name] as string[] | undefined) ?? [],
  };
}
