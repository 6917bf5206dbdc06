/**
 * What may come in from a client and be stored or relayed: plain data that every codec, every
 * read model and every client library can hold. A decoder hands us more than that (msgpack gives
 * BigInt for int64, Dates for its timestamp extension, typed arrays for bin; JSON escapes give NUL
 * and lone surrogates, and any depth of nesting), and each of those once took a process down far
 * from the edge: JSON.stringify throws on BigInt, Postgres refuses NUL and lone surrogates in text
 * and jsonb, and encoders recurse until the stack is gone. So a frame or body is checked once, at
 * the edge, before anything else looks at it.
 */
export type WireValueLimits = {
  /** Nesting of objects and arrays; the protocol's deepest frame (media inside message.send) is 4. */
  maxDepth: number;
  /** Values in all (strings, numbers, keys, ...): bounds the work of every later walk. */
  maxNodes: number;
};

export const defaultWireValueLimits: WireValueLimits = { maxDepth: 16, maxNodes: 20_000 };

/** Why `value` is not plain wire data (with the path to the first offending part), or undefined if it is. */
export function wireValueProblem(value: unknown, limits: WireValueLimits = defaultWireValueLimits): string | undefined {
  const budget = { nodes: limits.maxNodes };
  return check(value, '', 0, limits.maxDepth, budget);
}

function check(value: unknown, path: string, depth: number, maxDepth: number, budget: { nodes: number }): string | undefined {
  if (--budget.nodes < 0) return 'too many values in one frame';
  switch (typeof value) {
    case 'string':
      return textProblem(value, path);
    case 'number':
      return Number.isFinite(value) ? undefined : `${where(path)}: numbers must be finite`;
    case 'boolean':
      return undefined;
    case 'object':
      break;
    case 'bigint':
      return `${where(path)}: integer out of range`;
    default:
      return `${where(path)}: ${typeof value} is not a JSON value`;
  }
  if (value === null) return undefined;
  if (depth >= maxDepth) return `${where(path)}: nested deeper than ${maxDepth} levels`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = check(value[i], `${path}/${i}`, depth + 1, maxDepth, budget);
      if (problem) return problem;
    }
    return undefined;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return `${where(path)}: not a JSON value (${(value as object).constructor?.name ?? 'object'})`;
  for (const key of Object.keys(value)) {
    // JSON.parse makes it an own field, but msgpackr reads it back as `__proto_` and a decoder that
    // assigns keys sets the object's prototype with it: no codec or client holds it as a field.
    if (key === '__proto__') return `${path}/__proto__: not a field name (decoders make it a prototype)`;
    const keyProblem = textProblem(key, `${path}/${key}`);
    if (keyProblem) return keyProblem;
    const problem = check((value as Record<string, unknown>)[key], `${path}/${key}`, depth + 1, maxDepth, budget);
    if (problem) return problem;
  }
  return undefined;
}

/** In Unicode mode a surrogate pair is one code point, so this matches only surrogates standing alone. */
const LONE_SURROGATE = /\p{Cs}/u;
const LONE_SURROGATES = /\p{Cs}/gu;

/** Text every store can hold: no NUL (Postgres text and jsonb refuse it) and no lone surrogate (not Unicode). */
export function textProblem(text: string, path = ''): string | undefined {
  if (text.includes('\u0000')) return `${where(path)}: text must not contain NUL (U+0000)`;
  if (LONE_SURROGATE.test(text)) return `${where(path)}: text must be valid Unicode (no lone surrogates)`;
  return undefined;
}

function where(path: string): string {
  return path === '' ? 'frame' : path;
}

/**
 * A copy of `value` with text made storable: NUL and lone surrogates replaced by U+FFFD. For
 * events already in the log from versions that let such text in (the edge refuses it now).
 */
export function sanitizeText<T>(value: T): T {
  if (typeof value === 'string') return (textProblem(value) ? value.replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATES, '\uFFFD') : value) as T;
  if (Array.isArray(value)) return value.map(sanitizeText) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[sanitizeText(k)] = sanitizeText(v);
    return out as T;
  }
  return value;
}

/**
 * Whether JSON bytes may hold text that `sanitizeText` would change: JSON.stringify writes NUL as
 * \u0000 and a lone surrogate as \udXXX, while a well-formed pair goes out as raw UTF-8. A cheap
 * look at the bytes, so the common event is not walked.
 */
export function mayNeedSanitizing(json: Uint8Array): boolean {
  const bytes = Buffer.from(json.buffer, json.byteOffset, json.byteLength);
  // Most events hold no \u escape at all (JSON.stringify writes one only for control characters and
  // lone surrogates): one native search, and no string made of the event, on the projector's path.
  const first = bytes.indexOf('\\u');
  if (first < 0) return false;
  return /\\u0000|\\u[dD][89a-fA-F]/.test(bytes.toString('latin1', first));
}
