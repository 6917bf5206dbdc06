/**
 * The SDK (@parley/client, sdk/src) on Node 20: it has no global WebSocket, so the `ws` package's
 * goes in; msgpack is msgpackr, set as the server's (plain objects, no records).
 */
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { jsonCodec, msgpackCodec, type FrameCodec, type WebSocketConstructor } from '../sdk/src/index.js';

/** `ws`'s WebSocket has the `on<event>` properties the SDK uses; its types differ in the details only. */
export const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export const nodeMsgpackCodec: FrameCodec = msgpackCodec({ pack: (v) => packr.pack(v), unpack: (d) => packr.unpack(d) });

export function codecNamed(codec: 'json' | 'msgpack'): FrameCodec {
  return codec === 'json' ? jsonCodec : nodeMsgpackCodec;
}
