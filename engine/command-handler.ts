import type { AggregateStore } from '../lib/aggregate-store.js';
import type { ConversationState } from '../lib/conversation-state.js';
import type { EventStore } from '../lib/event-store.js';
import { decodeJson, encodeJson } from '../lib/json.js';
import type { Logger } from '../lib/log.js';
import { isUserCommand } from '../lib/partition.js';
import type { UserState } from '../lib/user-state.js';
import type { AnyCommand, CommandOutcome, ConversationCommand, ConversationEvent, UserEvent } from '../schemas/index.js';
import { blockCheckPair, decide, type DecideContext, type Decision } from './decider.js';
import { outcomeBody, resultOf, type OutcomeOf } from './outcome-body.js';
import { decideUser } from './user-decider.js';
import { appendConflicts, appendGaveUp, commandDecided, rejections } from './metrics.js';

/** Appends that lose the optimistic-concurrency race this often in a row are given up (and retried by redelivery). */
export const MAX_ATTEMPTS = 20;

/** Sends a command's answer to the gateway that holds its connection (engine.ts: over core NATS). */
export type Replies = (gatewayId: string, outcome: CommandOutcome) => void;

export type HandlerDeps = {
  conversations: AggregateStore<ConversationState, ConversationEvent>;
  users: AggregateStore<UserState, UserEvent>;
  /** The log appends go to; the aggregate stores read the same one. */
  events: EventStore;
  reply: Replies;
  log: Logger;
};

export type Outcome = CommandOutcome['outcome'];

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
  handle(command: AnyCommand, redelivered = false): Promise<Outcome> {
    const started = performance.now();
    const done = this.#handle(command, redelivered);
    done.then(
      (outcome) => commandDecided(command.type, outcome, (performance.now() - started) / 1000),
      () => commandDecided(command.type, 'failed', (performance.now() - started) / 1000),
    );
    return done;
  }

  #handle(command: AnyCommand, redelivered: boolean): Promise<Outcome> {
    if (isUserCommand(command)) {
      return this.#run(command, this.#d.users, command.userId, (state) => decideUser(command, state), redelivered);
    }
    return this.#run(
      command,
      this.#d.conversations,
      command.conversationId,
      async (state) => decide(command, state, await this.#context(command, state)),
      redelivered,
    );
  }

  async #run<S extends { id: string; version: number }, E extends { commandId: string }>(
    command: AnyCommand,
    store: AggregateStore<S, E>,
    id: string,
    decideOn: (state: S) => Decision<E> | Promise<Decision<E>>,
    redelivered: boolean,
  ): Promise<Outcome> {
    const subject = store.kind.subject(id);
    let state = await store.get(id);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const decision = await decideOn(state);
      switch (decision.kind) {
        case 'reject':
          this.#d.log.debug({ commandId: command.id, code: decision.rejection.code }, 'command rejected');
          rejections.inc(decision.rejection.code);
          this.#reply(command, { outcome: 'rejected', error: decision.rejection });
          return 'rejected';
        case 'noop':
          this.#reply(command, { outcome: 'noop' });
          return 'noop';
        case 'duplicate':
          if (!redelivered) await this.#replyWithOriginal(command, decision.eventSeq);
          return 'duplicate';
        case 'append':
          break;
      }
      let raced = false;
      for (const event of decision.events) {
        try {
          const appended = await this.#d.events.append(subject, encodeJson(event), {
            // Scoped to the subject: a client may reuse a tempId in another conversation.
            idempotencyKey: `${id}/${event.commandId}`,
            expectedVersion: state.version,
          });
          // A conflict: someone else wrote first. A duplicate: stored before (a redelivery of a
          // command we did not finish). Either way our state is behind.
          if (appended.kind !== 'appended') {
            raced = true;
            break;
          }
          store.kind.evolve(state, event, appended.seq);
          store.folded(state);
        } catch (err) {
          store.forget(id);
          throw err;
        }
      }
      if (!raced) {
        // A socket learns of its accepted command from its inbox; only REST waits for the answer.
        if (command.origin?.awaitsAcceptance) this.#reply(command, { outcome: 'accepted', ...resultOf(decision.events.at(-1)) });
        return 'accepted';
      }
      appendConflicts.inc();
      state = await store.catchUp(state);
    }
    appendGaveUp.inc();
    store.forget(id);
    throw new Error(`gave up on ${command.id} after ${MAX_ATTEMPTS} concurrent-write conflicts`);
  }

  /** Blocks live on the two users' subjects; the decider says whose it needs. */
  async #context(command: ConversationCommand, state: ConversationState): Promise<DecideContext> {
    const pair = blockCheckPair(command, state);
    if (!pair) return {};
    const [a, b] = pair;
    const [ua, ub] = await Promise.all([this.#d.users.get(a), this.#d.users.get(b)]);
    return { blockedPair: ua.blocked.has(b) || ub.blocked.has(a) };
  }

  async #replyWithOriginal(command: AnyCommand, eventSeq: number): Promise<void> {
    const stored = eventSeq > 0 ? await this.#d.events.bySeq(eventSeq) : null;
    const original = stored ? decodeJson(stored.data) : undefined;
    this.#reply(command, { outcome: 'duplicate', ...resultOf(original) });
  }

  #reply(command: AnyCommand, outcome: OutcomeOf): void {
    if (command.origin) this.#d.reply(command.origin.gatewayId, outcomeBody(command, command.origin, outcome));
  }
}
