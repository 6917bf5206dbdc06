import type { NatsConnection } from '@nats-io/nats-core';
import { decodeJson, encodeJson } from '../lib/json.js';
import { PublishError, type JetStreamPublisher } from '../lib/js-publisher.js';
import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';
import type { StreamReader } from '../lib/stream-reader.js';
import { toWireConversation, toWireMessage } from '../lib/wire.js';
import type { CommandOutcome, ConversationCommand, ConversationEvent } from '../schemas/index.js';
import { decide, evolve } from './decider.js';
import type { ConversationStore } from './conversation-store.js';

/** Appends that lose the optimistic-concurrency race this often in a row are given up (and retried by redelivery). */
const MAX_ATTEMPTS = 20;

export type HandlerDeps = {
  nc: NatsConnection;
  names: Names;
  store: ConversationStore;
  events: StreamReader;
  publisher: JetStreamPublisher;
  log: Logger;
};

/**
 * Load → decide → append → answer, for one command. Appends carry the state's version as the
 * subject's expected last sequence; losing that race means someone else wrote first, so the state
 * is brought up to date and the command decided again. Each event's Nats-Msg-Id is its command id,
 * so a command redelivered after a crash cannot append twice.
 */
export class CommandHandler {
  readonly #d: HandlerDeps;

  constructor(deps: HandlerDeps) {
    this.#d = deps;
  }

  /**
   * `redelivered`: JetStream delivered this same command message before (an engine died or timed
   * out holding it). If it was decided then, its events are already on their way to the sender
   * through the inbox, so a duplicate needs no answer; a duplicate that is a new message is the
   * client retrying, and gets the original result.
   */
  async handle(command: ConversationCommand, redelivered = false): Promise<CommandOutcome['outcome']> {
    const { store, names, publisher } = this.#d;
    const subject = names.subjects.conversationEvents(command.conversationId);
    let state = await store.get(command.conversationId);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const decision = decide(command, state);
      if (decision.kind === 'reject') {
        this.#d.log.debug({ commandId: command.id, code: decision.rejection.code }, 'command rejected');
        this.#reply(command, { outcome: 'rejected', error: decision.rejection });
        return 'rejected';
      }
      if (decision.kind === 'duplicate') {
        if (!redelivered) await this.#replyWithOriginal(command, decision.eventSeq);
        return 'duplicate';
      }
      let raced = false;
      for (const event of decision.events) {
        try {
          const ack = await publisher.publish(subject, encodeJson(event), {
            msgId: event.commandId,
            expectedLastSubjectSequence: state.version,
          });
          if (ack.duplicate) {
            // Stored before (a redelivery of a command we did not finish): our state is behind.
            raced = true;
            break;
          }
          evolve(state, event, ack.seq);
        } catch (err) {
          if (err instanceof PublishError && err.code === 'wrong_last_sequence') {
            raced = true;
            break;
          }
          store.forget(command.conversationId);
          throw err;
        }
      }
      if (!raced) {
        this.#reply(command, { outcome: 'accepted', ...this.#result(decision.events.at(-1)!) });
        return 'accepted';
      }
      state = await store.catchUp(state);
    }
    store.forget(command.conversationId);
    throw new Error(`gave up on ${command.id} after ${MAX_ATTEMPTS} concurrent-write conflicts`);
  }

  #result(event: ConversationEvent): Partial<CommandOutcome> {
    if (event.type === 'MessageSent') return { result: toWireMessage(event) };
    if (event.type === 'ConversationCreated') return { result: toWireConversation(event) };
    return {};
  }

  async #replyWithOriginal(command: ConversationCommand, eventSeq: number): Promise<void> {
    const stored = eventSeq > 0 ? await this.#d.events.bySeq(eventSeq) : null;
    const original = stored ? decodeJson<ConversationEvent>(stored.data) : undefined;
    this.#reply(command, { outcome: 'duplicate', ...(original ? this.#result(original) : {}) });
  }

  #reply(command: ConversationCommand, outcome: Pick<CommandOutcome, 'outcome'> & Partial<CommandOutcome>): void {
    const origin = command.origin;
    if (!origin) return;
    const body: CommandOutcome = {
      commandId: command.id,
      connectionId: origin.connectionId,
      ...(origin.ref !== undefined ? { ref: origin.ref } : {}),
      commandType: command.type,
      conversationId: command.conversationId,
      ...(command.type === 'message.send' ? { tempId: command.data.tempId } : {}),
      ...outcome,
    };
    // Core NATS: the answer matters only to a connection that is still there.
    this.#d.nc.publish(this.#d.names.subjects.reply(origin.gatewayId), encodeJson(body));
  }
}
