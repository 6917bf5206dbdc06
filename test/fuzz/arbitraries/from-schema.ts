import fc from 'fast-check';
import { Kind, type TSchema } from '@sinclair/typebox';

/** Long enough to reach into a field's limits, short enough to keep a run fast. */
const MAX_GENERATED_LENGTH = 300;
const MAX_GENERATED_ITEMS = 4;

/**
 * Values a TypeBox schema accepts, derived from the schema itself: a new client frame, or a new
 * field in one, is fuzzed without anyone writing its generator. A schema construct this does not
 * know fails here, at once, rather than being fuzzed with nothing.
 */
export function validOf(schema: TSchema): fc.Arbitrary<unknown> {
  switch (schema[Kind]) {
    case 'Object': {
      const properties = (schema.properties ?? {}) as Record<string, TSchema>;
      const required = (schema.required ?? []) as string[];
      const fields = Object.fromEntries(Object.entries(properties).map(([key, field]) => [key, validOf(field)]));
      return fc.record(fields, { requiredKeys: required });
    }
    case 'Union':
      return fc.oneof(...(schema.anyOf as TSchema[]).map(validOf));
    case 'Literal':
      return fc.constant(schema.const);
    case 'Boolean':
      return fc.boolean();
    case 'String':
      return stringOf(schema);
    case 'Integer':
      return integerOf(schema);
    case 'Number':
      return fc.double({ noNaN: true, noDefaultInfinity: true, ...bounds(schema) });
    case 'Array': {
      const min = (schema.minItems as number | undefined) ?? 0;
      const max = Math.max(min, Math.min((schema.maxItems as number | undefined) ?? MAX_GENERATED_ITEMS, MAX_GENERATED_ITEMS));
      return fc.array(validOf(schema.items as TSchema), { minLength: min, maxLength: max });
    }
    case 'Null':
      return fc.constant(null);
    case 'Unknown':
      return fc.jsonValue({ maxDepth: 2 });
    default:
      throw new Error(`validOf: no generator for TypeBox kind ${String(schema[Kind])}; add one`);
  }
}

function bounds(schema: TSchema): { min?: number; max?: number } {
  return {
    ...(typeof schema.minimum === 'number' ? { min: schema.minimum } : {}),
    ...(typeof schema.maximum === 'number' ? { max: schema.maximum } : {}),
  };
}

function stringOf(schema: TSchema): fc.Arbitrary<string> {
  if (typeof schema.pattern === 'string') return fc.stringMatching(new RegExp(schema.pattern));
  if (schema.format === 'date-time') return fc.date({ min: new Date(0), max: new Date(4_102_444_800_000), noInvalidDate: true }).map((d) => d.toISOString());
  if (schema.format !== undefined) throw new Error(`validOf: no generator for string format ${String(schema.format)}; add one`);
  const min = (schema.minLength as number | undefined) ?? 0;
  const max = (schema.maxLength as number | undefined) ?? MAX_GENERATED_LENGTH;
  const text = fc.string({ unit: 'grapheme', minLength: min, maxLength: Math.max(min, Math.min(max, MAX_GENERATED_LENGTH)) });
  // Exactly at the limit too: off-by-one lengths are where storage and schemas disagree.
  return fc.oneof({ weight: 5, arbitrary: text.filter((s) => s.length >= min && s.length <= max) }, fc.constant('x'.repeat(max)));
}

function integerOf(schema: TSchema): fc.Arbitrary<number> {
  const min = (schema.minimum as number | undefined) ?? Number.MIN_SAFE_INTEGER;
  const max = (schema.maximum as number | undefined) ?? Number.MAX_SAFE_INTEGER;
  return fc.oneof(
    fc.constantFrom(min, max),
    fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, 2 ** 31 - 1) }),
    fc.maxSafeInteger().filter((n) => n >= min && n <= max),
  );
}
