import { Type, type Static } from '@sinclair/typebox';

/** Ids are single NATS subject tokens: they appear in subjects, so no '.', '*', '>' or spaces. */
export const ID_PATTERN = '^[A-Za-z0-9_-]{1,128}$';
/** The client's id for a send; it travels in a NATS header, so visible ASCII only. */
export const TEMP_ID_PATTERN = '^[\\x21-\\x7e]{1,128}$';
const idRegExp = new RegExp(ID_PATTERN);
const tempIdRegExp = new RegExp(TEMP_ID_PATTERN);
export const isId = (value: string): boolean => idRegExp.test(value);
export const isTempId = (value: string): boolean => tempIdRegExp.test(value);

export const Id = Type.String({ pattern: ID_PATTERN, description: 'letters, digits, _ and -, 1–128 chars' });
export const UserId = Type.String({ pattern: ID_PATTERN, description: "a user id (the JWT's sub)" });
export const ConversationId = Type.String({ pattern: ID_PATTERN });
export const TempId = Type.String({ pattern: TEMP_ID_PATTERN, description: 'client-chosen, visible ASCII, 1–128 chars' });
export const Ref = Type.String({ maxLength: 64 });
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601, UTC' });

export const MessageType = Type.Union(
  [Type.Literal('text'), Type.Literal('image'), Type.Literal('video'), Type.Literal('audio'), Type.Literal('file')],
  { default: 'text' },
);
export type MessageType = Static<typeof MessageType>;

/** A whole number every client language holds exactly (JSON readers use doubles). */
export const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

const mediaFields = {
  url: Type.String({ minLength: 1, maxLength: 2048 }),
  type: Type.Optional(Type.String({ maxLength: 32 })),
  thumbnail: Type.Optional(Type.String({ maxLength: 2048 })),
  mimeType: Type.Optional(Type.String({ maxLength: 128 })),
  name: Type.Optional(Type.String({ maxLength: 256 })),
  width: Type.Optional(Count),
  height: Type.Optional(Count),
  size: Type.Optional(Count),
  durationMs: Type.Optional(Count),
};
/**
 * A media item as a client sends it and as commands carry it: these fields and no others, so
 * nothing a client invents is stored in the log for good and sent to every member.
 */
export const Media = Type.Object(mediaFields, { additionalProperties: false });
export type Media = Static<typeof Media>;
/** A media item as events and frames hold it: the log may hold other fields, written by versions that let them in. */
export const StoredMedia = Type.Object(mediaFields);

/** Who did it: the JWT's sub, with display name and avatar from its claims. */
const actorFields = {
  id: UserId,
  name: Type.Optional(Type.String({ maxLength: 256 })),
  avatar: Type.Optional(Type.String({ maxLength: 2048 })),
};
export const Actor = Type.Object(actorFields, { additionalProperties: false });
export type Actor = Static<typeof Actor>;
/** An actor as events hold it (see StoredMedia). */
export const StoredActor = Type.Object(actorFields);

/** Where a command came from, so its outcome can go back to that one connection. */
export const Origin = Type.Object({
  gatewayId: Id,
  connectionId: Id,
  ref: Type.Optional(Ref),
  /**
   * The origin waits for the outcome even when the command is accepted (a REST request). A socket
   * does not: it hears of an accepted command through its inbox, so the engine answers it only
   * with rejections and repeats.
   */
  awaitsAcceptance: Type.Optional(Type.Boolean()),
});
export type Origin = Static<typeof Origin>;

/**
 * A member's role in a group: the `owner` (its creator, or whom they handed it to: runs
 * everything, gives roles, cannot be removed), an
 * `admin` (made so by the owner: updates the group, adds members, removes members, deletes
 * messages) or a `member`. Both members of a direct conversation are `member`.
 */
export const Role = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')]);
export type Role = Static<typeof Role>;


export const Member = Type.Object({ userId: UserId, role: Role });
export type Member = Static<typeof Member>;

export const ConversationKind = Type.Union([Type.Literal('direct'), Type.Literal('group')]);
export type ConversationKind = Static<typeof ConversationKind>;

/**
 * Who may join a group: `open`, anyone who knows its id (conversation.join); `invite`, only those
 * its members add. Absent counts as `invite`: direct conversations have no policy, and groups
 * created before the policy existed were joinable by anyone with the id without anyone having
 * chosen that, so they are read as closed rather than left open to whoever learnt an id.
 */
export const JoinPolicy = Type.Union([Type.Literal('open'), Type.Literal('invite')], {
  description: "who may join a group: 'open' (anyone with its id) or 'invite' (only those added); absent means 'invite'",
});
export type JoinPolicy = Static<typeof JoinPolicy>;
/**
 * A group's picture: an http(s) URL, at most 2,048 characters. Narrower than a
 * media URL on purpose: any admin sets it and every member's client renders it, so a
 * `javascript:` or `data:` URL never gets in.
 */
export const Avatar = Type.String({
  minLength: 1,
  maxLength: 2048,
  // RFC 3986's characters less the quote and parentheses: nothing that ends an HTML attribute or
  // a CSS url() (a client can percent-encode them).
  pattern: "^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~:/?#\\[\\]@!$&*+,;=%-]+$",
  description: "an http(s) URL of RFC 3986's characters but quotes and parentheses (percent-encode them), at most 2,048 characters",
});

/** What an absent policy means, everywhere it is read (engine, read models, wire). */
export const DEFAULT_JOIN_POLICY: JoinPolicy = 'invite';

export const limits = {
  contentMaxLength: 16_384,
  mediaMaxItems: 10,
  mentionsMaxItems: 50,
  groupMaxMembers: 1_000,
  /** Users one conversation.add_members may name (a group holds at most groupMaxMembers in all). */
  addMembersMax: 999,
  titleMaxLength: 256,
  /** Distinct emoji on one message (all users together), and emoji one user puts on one message. */
  reactionsPerMessageMax: 20,
  reactionsPerUserMax: 3,
  /**
   * Reactions kept on one conversation's kept messages together: what keeps its state and snapshot
   * bounded (about 40 bytes each in a snapshot: ~400 KB at the cap, below a NATS message) however
   * large the group. Past it a new reaction is refused until older messages fall out of the kept
   * 1,000 or reactions are taken back.
   */
  reactionsPerConversationMax: 10_000,
  /**
   * Users named in one presence.subscribe / presence.unsubscribe frame, and the most a connection
   * may hold subscribed (PARLEY_PRESENCE_MAX_SUBSCRIPTIONS may lower it, never raise it).
   */
  presenceSubscriptionsMax: 1_000,
  /** Users asked for in one GET /v1/presence. */
  presenceQueryMax: 100,
} as const;

/**
 * A reaction's emoji: 1–32 UTF-16 units (a few graphemes, a flag or a family sequence included),
 * no whitespace, no control characters or line separators, no "/" "%" "?" "#" (it travels in a REST
 * path), no lone surrogate. Conservative on purpose: not a check that it is an emoji, only that it is short, printable
 * and path-safe; clients render what they get.
 */
export const Emoji = Type.String({
  minLength: 1,
  maxLength: 32,
  // Any character but whitespace, C0/C1 controls, line separators, / % ? # and surrogates, or a
  // well-formed surrogate pair (the same with and without the regex u flag).
  pattern: '^(?:[^\\s\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029/%?#\\ud800-\\udfff]|[\\ud800-\\udbff][\\udc00-\\udfff]){1,32}$',
  description: 'a short printable string (an emoji): 1–32 UTF-16 units, no whitespace or control characters',
});
