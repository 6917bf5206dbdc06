/**
 * The part of the WebSocket API the SDK uses: the browser's `WebSocket`, and the `ws` package's on
 * Node (which implements the same `on<event>` properties). Declared here because the SDK is
 * compiled without the DOM's types, so that it runs wherever one of those exists.
 */
export interface WebSocketLike {
  readonly readyState: number;
  /** The subprotocol the server selected. */
  readonly protocol: string;
  binaryType: string;
  // The events are `any` so that both the DOM's and `ws`'s event classes fit; the client reads
  // only `data` (message) and `code` / `reason` (close).
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Makes the socket for a connect: `new WebSocket(url, protocols)` unless the caller needs more (headers on Node). */
export type SocketFactory = (url: string, protocols: string[]) => WebSocketLike;

/** The WebSocket API's readyState values. */
export const OPEN = 1;

/** The global WebSocket (browsers, Node 22+, Deno, Bun), or undefined. */
export function globalWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}
