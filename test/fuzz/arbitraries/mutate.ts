import fc from 'fast-check';
import { hostileKey, hostileString, hostileValue } from './hostile.js';

/**
 * Mutations of a valid value: random values are mostly refused at the first check, while a
 * valid frame with one thing wrong reaches every later one (the schema, the command builders,
 * the engine, the read models). One mutation picks a node of the value by index and changes it.
 */
export type Mutation =
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'remove'; at: number }
  | { kind: 'add-field'; at: number; key: string; value: unknown }
  | { kind: 'splice-text'; at: number; text: string; position: number }
  | { kind: 'lengthen'; at: number; by: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: hostileValue }),
  fc.record({ kind: fc.constant('remove' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('add-field' as const), at: fc.nat(), key: hostileKey, value: hostileValue }),
  fc.record({ kind: fc.constant('splice-text' as const), at: fc.nat(), text: hostileString, position: fc.nat() }),
  fc.record({ kind: fc.constant('lengthen' as const), at: fc.nat(), by: fc.constantFrom(1, 2, 64, 16_384) }),
);

/** `value` (plain JSON) with 1–3 mutations applied. */
export function mutated(value: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.tuple(value, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([v, ms]) => ms.reduce(applyMutation, v));
}

type Place = { parent: Record<string, unknown> | unknown[] | undefined; key: string | number; value: unknown };

/** Every node of a JSON value with where it hangs, the root first. */
function places(root: unknown): Place[] {
  const out: Place[] = [{ parent: undefined, key: '', value: root }];
  for (let i = 0; i < out.length; i++) {
    const { value } = out[i]!;
    if (Array.isArray(value)) value.forEach((v, k) => out.push({ parent: value, key: k, value: v }));
    else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) out.push({ parent: value, key: k, value: v });
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/** Sets as own data properties, so a key '__proto__' is a field, as a decoder makes it. */
function put(parent: Record<string, unknown> | unknown[], key: string | number, value: unknown): void {
  Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
}

export function applyMutation(root: unknown, m: Mutation): unknown {
  const copy = structuredClone(root);
  const all = places(copy);
  const place = all[m.at % all.length]!;
  const set = (value: unknown) => {
    if (place.parent === undefined) return value;
    put(place.parent, place.key, value);
    return copy;
  };
  switch (m.kind) {
    case 'replace':
      return set(m.value);
    case 'remove':
      if (place.parent === undefined) return undefined;
      if (Array.isArray(place.parent)) place.parent.splice(place.key as number, 1);
      else delete place.parent[place.key as string];
      return copy;
    case 'add-field': {
      const objects = all.filter((p) => isPlainObject(p.value));
      if (objects.length === 0) return copy;
      put(objects[m.at % objects.length]!.value as Record<string, unknown>, m.key, m.value);
      return copy;
    }
    case 'splice-text': {
      if (typeof place.value !== 'string') return set(m.text);
      const at = m.position % (place.value.length + 1);
      return set(place.value.slice(0, at) + m.text + place.value.slice(at));
    }
    case 'lengthen':
      if (typeof place.value === 'string') return set(place.value + 'x'.repeat(m.by));
      // Past an array's maxItems (1,100 passes the largest: a group's 1,000 members).
      if (Array.isArray(place.value)) return set([...place.value, ...new Array<unknown>(Math.min(m.by, 1_100)).fill(place.value[0] ?? null)]);
      if (typeof place.value === 'number') return set(place.value + m.by);
      return copy;
    default: {
      const exhaustive: never = m;
      return exhaustive;
    }
  }
}
