import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { FormatRegistry, type TSchema, type Static } from '@sinclair/typebox';
import { ClientEnvelope, clientPayloads, type ClientFrameType } from './client-frames.js';
import { AnyCommand } from './commands.js';
import { ConversationEvent, eventSchemas } from './events.js';

// TypeBox checks only the formats it is told about; ours is the ISO 8601 instant every event carries.
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => ISO_INSTANT.test(v) && !Number.isNaN(Date.parse(v)));

export type Validation<T> = { ok: true; value: T } | { ok: false; message: string };

export type Validator<S extends TSchema> = (value: unknown) => Validation<Static<S>>;

/** Compile once; the check is generated code, the error path is only walked on failure. */
export function compile<S extends TSchema>(schema: S): Validator<S> {
  const check: TypeCheck<S> = TypeCompiler.Compile(schema);
  return (value) => {
    if (check.Check(value)) return { ok: true, value };
    const first = check.Errors(value).First();
    const where = first?.path ? first.path : 'payload';
    return { ok: false, message: first ? `${where}: ${first.message}` : 'invalid value' };
  };
}

export const validateClientEnvelope = compile(ClientEnvelope);

export const validateClientPayload = Object.fromEntries(
  Object.entries(clientPayloads).map(([type, schema]) => [type, compile(schema)]),
) as { [K in ClientFrameType]: Validator<(typeof clientPayloads)[K]> };

export const validateCommand = compile(AnyCommand);
const eventValidators = Object.fromEntries(Object.entries(eventSchemas).map(([type, schema]) => [type, compile(schema)]));
const validateAnyEvent = compile(ConversationEvent);

/**
 * Validate an event against the schema of its own type, so the error names the field that is wrong.
 * Own types only: a `type` of "constructor" or "toString" must not find Object's methods (it once
 * found `Object`, which "validated" the event into a stepped-over entry with no reason given).
 */
export function validateEvent(value: unknown): Validation<Static<typeof ConversationEvent>> {
  const type = (value as { type?: unknown } | null)?.type;
  const byType = typeof type === 'string' && Object.hasOwn(eventValidators, type) ? eventValidators[type] : undefined;
  return byType ? (byType(value) as Validation<Static<typeof ConversationEvent>>) : validateAnyEvent(value);
}
