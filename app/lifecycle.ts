import type { Component } from '../lib/component.js';

/**
 * Start the parts of a process one after the other. If one fails to start, those already started
 * are stopped, newest first, before the failure is passed on: a process whose gateway cannot listen
 * must not leave its engine consuming commands with nobody to stop it (the CLI's final
 * process.exit() used to hide that). A failure while stopping them goes to `onStopError` and does
 * not hide the start-up failure.
 */
export class StartUp {
  readonly #stops: (() => Promise<void>)[] = [];
  readonly #onStopError: (err: unknown) => void;

  constructor(onStopError: (err: unknown) => void) {
    this.#onStopError = onStopError;
  }

  /** Start a component (or nothing: a part this role does not run) and remember how it stops. */
  component<T extends Component<unknown> | undefined>(starting: () => Promise<T>): Promise<T> {
    return this.resource(starting, (component) => component?.stop() ?? Promise.resolve());
  }

  /** A start-up step with nothing to stop afterwards (making sure the streams exist). */
  run<T>(step: () => Promise<T>): Promise<T> {
    return this.resource(step, async () => undefined);
  }

  /** Start something that is stopped another way (a connection drained, a pool closed). */
  async resource<T>(starting: () => Promise<T>, stop: (started: T) => Promise<void>): Promise<T> {
    let started: T;
    try {
      started = await starting();
    } catch (err) {
      await this.#stopStarted();
      throw err;
    }
    this.#stops.push(() => stop(started));
    return started;
  }

  async #stopStarted(): Promise<void> {
    for (const stop of this.#stops.splice(0).reverse()) await stop().catch(this.#onStopError);
  }
}
