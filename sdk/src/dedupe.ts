/**
 * The cursor rule of the protocol: durable frames carry the inbox `seq`, and a frame whose seq is
 * at or below the cursor (the highest seq already processed) was seen before — replayed after a
 * reconnect with `?cursor=`, or delivered twice across a gateway's failover. Dropping those is what
 * lets the application see each durable frame once, in inbox order.
 *
 * Ephemeral frames (typing, presence, pong, error) have no seq and do not pass through here.
 */
export class InboxDedupe {
  #cursor: number | undefined;
  #dropped = 0;

  /** `cursor`: where to start (a stored cursor); undefined takes the first seq or session as the start. */
  constructor(cursor?: number) {
    this.#cursor = cursor;
  }

  /** The highest seq accepted: what to acknowledge, store, and resume from. */
  get cursor(): number | undefined {
    return this.#cursor;
  }

  /** Frames dropped as already seen. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * True when the frame with this seq is new (the cursor moves to it), false when it is at or
   * below the cursor (drop it).
   */
  accept(seq: number): boolean {
    if (this.#cursor !== undefined && seq <= this.#cursor) {
      this.#dropped++;
      return false;
    }
    this.#cursor = seq;
    return true;
  }

  /**
   * A connection.success: a resumed session continues from our cursor; otherwise (the first
   * connection without a cursor, or a cursor the server could not resume from) the server's
   * cursor is the start, even when it is below ours — keeping ours would drop the frames between.
   */
  session(payload: { cursor: number; resumed: boolean }): void {
    if (this.#cursor === undefined || !payload.resumed) this.#cursor = payload.cursor;
  }

  /** Start over from `cursor` (after a resync by REST, or a sign-out with undefined). */
  reset(cursor: number | undefined): void {
    this.#cursor = cursor;
  }
}
