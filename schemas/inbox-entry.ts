import type { Origin } from './common.js';
import type { ServerPayload } from './server-frames.js';

/**
 * The inbox contract between the delivery projector (which writes it) and the gateways (which
 * read it): for one event, the frame clients get, minus its `seq` (the inbox stream sequence is
 * the seq). An entry is encoded once for all its recipients, twice when it has an `origin`: that
 * lets the gateway turn the sender's own copy into `message.sent` (with its `ref`) on the
 * connection that sent it, so only the actor's inbox gets it; everyone else's copy goes without
 * (~100 bytes less to store and to republish, per recipient).
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
