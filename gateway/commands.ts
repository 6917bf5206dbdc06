import type { ErrorCode } from '../lib/errors.js';
import { directConversationId, editCommandId, newId, sendCommandId } from '../lib/ids.js';
import type { Actor, AnyCommand, ClientPayload, Origin } from '../schemas/index.js';
import type { Identity } from './auth.js';

/**
 * Client frames (or REST bodies) → engine commands. Pure: the gateway stamps who, when and where
 * from, and generates the ids the decider needs, so deciding stays free of clocks and randomness.
 *
 * The rules of what may be sent are the deciders' (engine/decider.ts, engine/user-decider.ts),
 * which answer a broken one with a rejected outcome that reaches the client as the same error
 * frame or REST error. What is refused here is only what a command cannot be built without; each
 * such check says why it stays.
 */
export type CommandContext = { identity: Identity; origin?: Origin; now: number };

export type Built = { ok: true; command: AnyCommand } | { ok: false; code: ErrorCode; message: string };

const fail = (code: ErrorCode, message: string): Built => ({ ok: false, code, message });

function actorOf(identity: Identity): Actor {
  return {
    id: identity.userId,
    ...(identity.name !== undefined ? { name: identity.name } : {}),
    ...(identity.avatar !== undefined ? { avatar: identity.avatar } : {}),
  };
}

function meta(ctx: CommandContext) {
  return { actor: actorOf(ctx.identity), at: ctx.now, ...(ctx.origin ? { origin: ctx.origin } : {}) };
}

export function buildCreateConversation(p: ClientPayload<'conversation.create'>, ctx: CommandContext): Built {
  const me = ctx.identity.userId;
  if (p.kind === 'direct') {
    return {
      ok: true,
      command: {
        type: 'conversation.create',
        id: newId('c', ctx.now),
        conversationId: directConversationId(me, p.userId),
        ...meta(ctx),
        data: { kind: 'direct', members: [me, p.userId] },
      },
    };
  }
  const members = [...new Set([me, ...p.members])];
  return {
    ok: true,
    command: {
      type: 'conversation.create',
      id: newId('c', ctx.now),
      conversationId: newId('g', ctx.now),
      ...meta(ctx),
      data: { kind: 'group', title: p.title, members, ...(p.joinPolicy ? { joinPolicy: p.joinPolicy } : {}) },
    },
  };
}

export function buildMembership(
  type: 'conversation.join' | 'conversation.leave',
  p: ClientPayload<'conversation.join'>,
  ctx: CommandContext,
): Built {
  return { ok: true, command: { type, id: newId('c', ctx.now), conversationId: p.conversationId, ...meta(ctx), data: {} } };
}

/** Group administration (conversation.update / add_members / remove_member / set_role): the rules are the decider's. */
export function buildGroupAdmin(
  type: 'conversation.update' | 'conversation.add_members' | 'conversation.remove_member' | 'conversation.set_role',
  p: { conversationId: string } & Record<string, unknown>,
  ctx: CommandContext,
): Built {
  const { conversationId, ...data } = p;
  return { ok: true, command: { type, id: newId('c', ctx.now), conversationId, ...meta(ctx), data } as AnyCommand };
}

export function buildSendMessage(p: ClientPayload<'message.send'>, ctx: CommandContext): Built {
  const me = ctx.identity.userId;
  // Which conversation the command is for: without exactly one of the two there is none to name.
  if ((p.conversationId === undefined) === (p.toUserId === undefined)) {
    return fail('validation_error', 'give exactly one of conversationId and toUserId');
  }
  const type = p.type ?? 'text';
  const conversationId = p.conversationId ?? directConversationId(me, p.toUserId!);
  return {
    ok: true,
    command: {
      type: 'message.send',
      id: sendCommandId(me, p.tempId),
      conversationId,
      ...meta(ctx),
      data: {
        messageId: newId('m', ctx.now),
        tempId: p.tempId,
        type,
        ...(p.content !== undefined ? { content: p.content } : {}),
        ...(p.media ? { media: p.media } : {}),
        ...(p.replyToId ? { replyToId: p.replyToId } : {}),
        ...(p.mentions ? { mentions: p.mentions } : {}),
        ...(p.toUserId !== undefined ? { directWith: p.toUserId } : {}),
      },
    },
  };
}

export function buildEditMessage(p: ClientPayload<'message.edit'>, ctx: CommandContext): Built {
  const me = ctx.identity.userId;
  return {
    ok: true,
    command: {
      type: 'message.edit',
      id: p.editId !== undefined ? editCommandId(me, p.editId) : newId('c', ctx.now),
      conversationId: p.conversationId,
      ...meta(ctx),
      data: { messageId: p.messageId, content: p.content },
    },
  };
}

export function buildDeleteMessage(p: ClientPayload<'message.delete'>, ctx: CommandContext): Built {
  return {
    ok: true,
    command: { type: 'message.delete', id: newId('c', ctx.now), conversationId: p.conversationId, ...meta(ctx), data: { messageId: p.messageId } },
  };
}

export function buildReceipt(
  type: 'receipt.delivered' | 'receipt.read',
  p: { conversationId: string; upToSeq?: number },
  ctx: CommandContext,
): Built {
  const data = p.upToSeq !== undefined ? { upToSeq: p.upToSeq } : {};
  // The decider has no such rule (a receipt without upToSeq covers every message); the frame's
  // schema requires it for message.delivered, and an ack always gives one: a guard for callers.
  if (type === 'receipt.delivered' && p.upToSeq === undefined) return fail('validation_error', 'upToSeq is required');
  return {
    ok: true,
    command: { type, id: newId('c', ctx.now), conversationId: p.conversationId, ...meta(ctx), data } as AnyCommand,
  };
}

export function buildBlock(type: 'block.add' | 'block.remove', p: ClientPayload<'block.add'>, ctx: CommandContext): Built {
  const me = ctx.identity.userId;
  return { ok: true, command: { type, id: newId('c', ctx.now), userId: me, ...meta(ctx), data: { blockedUserId: p.userId } } };
}

export function buildReaction(type: 'reaction.add' | 'reaction.remove', p: ClientPayload<'reaction.add'>, ctx: CommandContext): Built {
  return {
    ok: true,
    command: { type, id: newId('c', ctx.now), conversationId: p.conversationId, ...meta(ctx), data: { messageId: p.messageId, emoji: p.emoji } },
  };
}
