import type { Origin } from './common.js';
import type { ServerPayload } from './server-frames.js';

/**
 * The inbox contract between the delivery projector (which writes it) and the gateways (which
 * read it): for one event, the frame clients get, minus its `seq` (the inbox stream sequence is
 * the seq). The same bytes go to every recipient, so an entry is encoded once. `origin` lets the
 * gateway turn the sender's own copy into `message.sent` on the connection that sent it.
 */
type Durable =
  | 'message.new'
  | 'message.edited'
  | 'message.deleted'
  | 'reaction.added'
  | 'reaction.removed'
  | 'conversation.created'
  | 'conversation.updated'
  | 'conversation.member_joined'
  | 'conversation.member_left'
  | 'message.status'
  | 'message.read_update'
  | 'message.read_ack'
  | 'block.added'
  | 'block.removed';

export type InboxEntry = {
  [K in Durable]: { type: K; payload: ServerPayload<K>; origin?: Origin; eventSeq: number };
}[Durable];
