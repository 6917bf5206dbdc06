import type { ConversationEvent, UserEvent } from '../../schemas/index.js';

/** What the read models' evolve (apply.ts) takes and gives: a logged event in, SQL statements out. */

export type Statement = {
  text: string;
  values: unknown[];
  /**
   * 'messages': an INSERT of a run of messages whose values are its 14 column arrays, which
   * copy-insert.ts can write with COPY instead (the rebuild does, with the same effect).
   */
  copyable?: 'messages';
};
export type ProjectedEvent = ConversationEvent | UserEvent;
/** An event with its stream sequence in the log. */
export type LoggedEvent<E extends ProjectedEvent = ProjectedEvent> = { seq: number; event: E };
