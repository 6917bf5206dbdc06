/**
 * A typed event emitter: `on(type, handler)` returns the function that removes the handler. A
 * handler that throws does not stop the others or the client: the error goes to `onHandlerError`
 * (the client reports it as a `handler_error` event), because one bad handler in an app must not
 * lose the frames the next handlers and the cursor depend on.
 */
export class Emitter<Events extends { [K in keyof Events]: (...args: never[]) => void }> {
  readonly #handlers = new Map<keyof Events, Set<(...args: never[]) => void>>();
  readonly #onHandlerError: (error: unknown, type: keyof Events) => void;

  constructor(onHandlerError: (error: unknown, type: keyof Events) => void) {
    this.#onHandlerError = onHandlerError;
  }

  on<K extends keyof Events>(type: K, handler: Events[K]): () => void {
    let set = this.#handlers.get(type);
    if (!set) this.#handlers.set(type, (set = new Set()));
    set.add(handler);
    return () => void set.delete(handler);
  }

  once<K extends keyof Events>(type: K, handler: Events[K]): () => void {
    const off = this.on(type, ((...args: Parameters<Events[K]>) => {
      off();
      (handler as (...a: Parameters<Events[K]>) => void)(...args);
    }) as Events[K]);
    return off;
  }

  has(type: keyof Events): boolean {
    return (this.#handlers.get(type)?.size ?? 0) > 0;
  }

  emit<K extends keyof Events>(type: K, ...args: Parameters<Events[K]>): void {
    const set = this.#handlers.get(type);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        (handler as (...a: Parameters<Events[K]>) => void)(...args);
      } catch (err) {
        this.#onHandlerError(err, type);
      }
    }
  }
}
