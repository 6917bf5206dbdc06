/**
 * Who is typing where, from the server's typing.start / typing.stop. The server ends every typing
 * it started (a typing.stop follows each typing.start, also when the typist's connection drops),
 * and a reconnect clears everything: typing frames are ephemeral and not replayed.
 */
export class TypingState {
  readonly #typists = new Map<string, Set<string>>();

  /** The users typing in the conversation, in the order they started. */
  in(conversationId: string): string[] {
    return [...(this.#typists.get(conversationId) ?? [])];
  }

  /** True when the set of typists in the conversation changed. */
  start(conversationId: string, userId: string): boolean {
    let users = this.#typists.get(conversationId);
    if (!users) this.#typists.set(conversationId, (users = new Set()));
    if (users.has(userId)) return false;
    users.add(userId);
    return true;
  }

  stop(conversationId: string, userId: string): boolean {
    const users = this.#typists.get(conversationId);
    if (!users?.delete(userId)) return false;
    if (users.size === 0) this.#typists.delete(conversationId);
    return true;
  }

  /** The conversations that had typists, emptied (the connection that told us is gone). */
  clear(): string[] {
    const had = [...this.#typists.keys()];
    this.#typists.clear();
    return had;
  }
}
