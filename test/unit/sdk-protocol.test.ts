import t from 'tap';
import { clientPayloads, type ClientPayload } from '../../schemas/client-frames.js';
import { serverPayloads, type ErrorFrame as ServerErrorFrame, type ServerPayload } from '../../schemas/server-frames.js';
import { clientFrameTypes, serverFrameTypes, type ClientPayloads, type ErrorFrame, type ServerPayloads } from '../../sdk/src/protocol.js';

/**
 * The SDK writes the protocol's types out (it imports nothing of the server). These checks fail —
 * at compile time (npm test runs tsc first) or here — when they drift from the server's schemas.
 */

/** True only when A and B are the same type, optional fields and nested objects included. */
type Same<A, B> = (<T>() => T extends Deep<A> ? 1 : 2) extends <T>() => T extends Deep<B> ? 1 : 2 ? true : false;
/** A type written out field by field (TypeBox's Static types are intersections and mapped types). */
type Deep<T> = T extends object ? (T extends readonly (infer E)[] ? Deep<E>[] : { [K in keyof T]: Deep<T[K]> }) : T;
type AllTrue<T extends Record<string, true>> = T;

type ServerSame = { [K in keyof typeof serverPayloads]: Same<ServerPayloads[K], ServerPayload<K>> };
type ClientSame = { [K in keyof typeof clientPayloads]: Same<ClientPayloads[K], ClientPayload<K>> };
// A `false` in either map is a compile error here, naming the frame type.
export type ServerPayloadsMatch = AllTrue<ServerSame>;
export type ClientPayloadsMatch = AllTrue<ClientSame>;
export type ErrorFrameMatches = AllTrue<{ error: Same<ErrorFrame, ServerErrorFrame> }>;
// And the key sets: a frame type on one side only.
export type ServerKeysMatch = AllTrue<{ keys: Same<keyof ServerPayloads, keyof typeof serverPayloads> }>;
export type ClientKeysMatch = AllTrue<{ keys: Same<keyof ClientPayloads, keyof typeof clientPayloads> }>;

t.test('the run-time lists of frame types are the server’s', async (t) => {
  t.same([...serverFrameTypes].sort(), Object.keys(serverPayloads).sort(), 'server frames');
  t.same([...clientFrameTypes].sort(), Object.keys(clientPayloads).sort(), 'client frames');
});
