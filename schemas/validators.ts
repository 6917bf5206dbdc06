import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema, Static } from '@sinclair/typebox';
import { ClientEnvelope, clientPayloads, type ClientFrameType } from './client-frames.js';
import { ConversationCommand } from './commands.js';
import { ConversationEvent } from './events.js';

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

export const validateCommand = compile(ConversationCommand);
export const validateEvent = compile(ConversationEvent);
