/**
 * Publishes the TypeBox definitions as JSON Schema files (draft 2020-12) in schemas/json/, for
 * consumers in other languages: one file per client frame payload, server frame payload (plus the
 * error frame), command, event, and the shared shapes, and an index.json listing them.
 *
 * `npm run schemas` writes them; test/unit/json-schemas.test.ts fails when the files on disk are
 * not what `jsonSchemaFiles()` produces now. The output is deterministic: same definitions, same
 * bytes.
 */
import { mkdirSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import { ClientEnvelope, clientPayloads } from './client-frames.js';
import * as commands from './commands.js';
import { CommandOutcome, ConversationCommand, commandSchemas } from './commands.js';
import * as events from './events.js';
import { ConversationEvent, eventSchemas } from './events.js';
import { ErrorFrame, WireConversation, WireMessage, serverPayloads } from './server-frames.js';

/**
 * Definitions that are being added beside the conversation ones (user-level commands and events:
 * blocks). Picked up by name when a module exports them, so this file needs no change when they land.
 */
function optionalExport<T>(module: object, name: string): T | undefined {
  const value = (module as Record<string, unknown>)[name];
  return value !== null && typeof value === 'object' ? (value as T) : undefined;
}

/** The JSON Schema dialect of every file. TypeBox output is plain 2020-12 (anyOf, const, pattern, format). */
export const JSON_SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';

/** `$id` of a file: this prefix + its name without `.schema.json`. A URN: stable, not a download location. */
export const SCHEMA_ID_PREFIX = 'urn:parley:schema:';

/** Where `npm run schemas` writes. */
export const jsonSchemaDir = fileURLToPath(new URL('./json/', import.meta.url));

export type SchemaKind = 'client' | 'server' | 'command' | 'event' | 'type';

const clientDescriptions: Record<string, string> = {
  authenticate:
    'Client frame `authenticate`: authenticates a connection that presented no token at upgrade. Must arrive within the authenticate window (PARLEY_AUTH_TIMEOUT_MS, default 10 s). Answered by `connection.success`, or by an `error` (unauthorized or token_expired) and close 4001.',
  'auth.refresh':
    'Client frame `auth.refresh`: replaces the connection\'s token with a fresh one for the same user, which moves the session expiry. Answered by `auth.refreshed`. An expired token gets `token_expired` and close 4001; another invalid token (or one for another user) gets `unauthorized` and the connection keeps its old token.',
  'conversation.create':
    'Client frame `conversation.create`: a direct conversation with one other user (its id is derived from the pair; if it exists, the existing conversation is answered), or a group with a title, members (the creator is added as owner) and `joinPolicy`: `invite` (the default; only those added are members) or `open` (anyone who knows the id may join).',
  'conversation.join':
    'Client frame `conversation.join`: join an open group by id. Members are told with `conversation.member_joined`. Any other id (an invite-only group, a direct conversation, an id that does not exist) is `conversation_not_found`, the same answer whichever it is.',
  'conversation.leave': 'Client frame `conversation.leave`: leave a group conversation. Members (the leaver included) are told with `conversation.member_left`. The owner leaves only a group they are alone in (they hand it over first with `conversation.set_role`).',
  'conversation.update':
    'Client frame `conversation.update`: the group\'s owner or an admin changes its `title`, `avatar` (an http(s) URL; null removes it) or `joinPolicy`; at least one. Members are told with `conversation.updated` holding what changed; an update that changes nothing is answered with nothing. A member who does not run the group gets `forbidden`.',
  'conversation.add_members':
    'Client frame `conversation.add_members`: the group\'s owner or an admin adds users (how an invite-only group grows). Members, the new ones included, are told with `conversation.member_joined` (with `addedBy`); users already in are left out. A group holds at most 1,000 members.',
  'conversation.remove_member':
    'Client frame `conversation.remove_member`: the group\'s owner removes a member or an admin; an admin removes a member. The owner cannot be removed. The members before, the removed user included, get `conversation.member_left` (with `removedBy`); from then on the removed user gets nothing from the group and is refused as a stranger.',
  'conversation.set_role':
    'Client frame `conversation.set_role`: the group\'s owner makes a member an `admin`, or an admin a `member` again, or hands the group over (`owner`: the member becomes the owner and the previous owner an admin). Members are told with `conversation.updated` (`roles`).',
  'message.send':
    'Client frame `message.send`: send to a conversation (`conversationId`) or to a user (`toUserId`: their direct conversation, created on first use); exactly one of the two. Needs content or media; a text message needs non-blank content. `tempId` makes the send idempotent: a retry with the same tempId is answered with the original message.',
  ack: 'Client frame `ack`: acknowledges the inbox cursor `seq`. Accepted but without effect today (delivery receipts are coming); the client keeps its cursor and resumes with `?cursor=`.',
  ping: 'Client frame `ping`: application-level heartbeat, answered by `pong` with the payload echoed and the server time.',
};

const serverDescriptions: Record<string, string> = {
  'connection.success':
    'Server frame `connection.success`: the connection is authenticated. `cursor` is the inbox position it starts after; `resumed` is true when the client asked for a cursor.',
  'message.sent':
    'Server frame `message.sent`: to the connection that sent the message, the stored message (match it by `tempId`; `ref` is echoed). From the inbox it carries `seq`; the answer to a repeated send (same tempId) carries none.',
  'message.new':
    'Server frame `message.new` (durable, carries `seq`): a new message, to every connection of every member except the connection that sent it.',
  'conversation.created':
    'Server frame `conversation.created` (durable, carries `seq`): a conversation the user is a member of was created. Also the answer, without `seq`, to creating a direct conversation that exists.',
  'conversation.member_joined':
    'Server frame `conversation.member_joined` (durable, carries `seq`): users joined a group, or were added to it (`addedBy`: the owner or admin who did); `members` lists only the new members. Sent to all members, the new ones included.',
  'conversation.member_left':
    'Server frame `conversation.member_left` (durable, carries `seq`): a member left a group, or was removed from it (`removedBy`: the owner or admin who did). Sent to the members before, the one who left included.',
  'conversation.updated':
    'Server frame `conversation.updated` (durable, carries `seq`): a group\'s settings changed (`title`, `avatar` — null: removed —, `joinPolicy`: only those that changed) or a member\'s role did (`roles`). Sent to every member.',
  'auth.refreshed': 'Server frame `auth.refreshed`: the token from `auth.refresh` was accepted; `expiresAt` is its expiry.',
  'user.online':
    'Server frame `user.online` (ephemeral, no `seq`): a contact (the other member of one of your direct conversations, neither blocking the other) came online, on any device. `lastSeen` is now.',
  'user.offline':
    'Server frame `user.offline` (ephemeral, no `seq`): a contact\'s last connection closed (or their gateway died) and they did not come back within the grace period (PARLEY_PRESENCE_GRACE_MS). `lastSeen` is when they left.',
  'status.bulk':
    'Server frame `status.bulk` (ephemeral, no `seq`): right after `connection.success`, the presence of all your contacts (at most 5,000, the most recently active first). Not sent when the presence service does not answer in time.',
  pong: 'Server frame `pong`: answer to `ping`, with the ping\'s payload echoed and `serverTime`.',
};

const commandDescriptions: Record<string, string> = {
  'conversation.create':
    'Engine command on <prefix>.cmd.<partition>: create a conversation. Built by the gateway from `conversation.create` (a group gets a fresh id; a direct conversation the id of the pair); `data.members` includes the creator.',
  'conversation.join': 'Engine command on <prefix>.cmd.<partition>: the actor joins a group conversation whose joinPolicy is open.',
  'conversation.leave': 'Engine command on <prefix>.cmd.<partition>: the actor leaves a group conversation.',
  'conversation.update': 'Engine command on <prefix>.cmd.<partition>: the actor (owner or admin) changes the group\'s title, avatar or joinPolicy.',
  'conversation.add_members': 'Engine command on <prefix>.cmd.<partition>: the actor (owner or admin) adds `data.userIds` to the group.',
  'conversation.remove_member': 'Engine command on <prefix>.cmd.<partition>: the actor (owner or admin) removes `data.userId` from the group.',
  'conversation.set_role': 'Engine command on <prefix>.cmd.<partition>: the actor (the owner) gives `data.userId` the role `data.role` (admin or member; owner hands the group over).',
  'message.send':
    'Engine command on <prefix>.cmd.<partition>: send a message. Its id is `<userId>:<tempId>` (the idempotency key); `data.directWith` is set when the client addressed a user, so the direct conversation may be created.',
  'receipt.delivered': 'Engine command on <prefix>.cmd.<partition>: the actor\'s devices received the conversation up to `data.upToSeq` (a watermark).',
  'receipt.read': 'Engine command on <prefix>.cmd.<partition>: the actor read the conversation up to `data.upToSeq` (omitted: everything so far).',
  'block.add': 'Engine command (user-level, keyed by `userId`): the actor blocks `data.blockedUserId`.',
  'block.remove': 'Engine command (user-level, keyed by `userId`): the actor lifts a block of `data.blockedUserId`.',
};

type Entry = { file: string; kind: SchemaKind; title: string; description: string; schema: TSchema };

/** A JSON copy (TypeBox's symbol keys dropped) with nested `$id`s removed: each file is one schema resource. */
function plain(schema: TSchema): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
  const strip = (node: unknown, isRoot: boolean): void => {
    if (Array.isArray(node)) {
      for (const item of node) strip(item, false);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const obj = node as Record<string, unknown>;
    if (!isRoot && typeof obj.$id === 'string') delete obj.$id;
    for (const [key, value] of Object.entries(obj)) {
      if (key === 'properties' || key === 'patternProperties' || key === '$defs') {
        for (const sub of Object.values(value as Record<string, unknown>)) strip(sub, false);
      } else if (key !== 'const' && key !== 'default' && key !== 'enum' && key !== 'examples' && key !== 'required') {
        strip(value, false);
      }
    }
  };
  strip(copy, true);
  return copy;
}

function describe(map: Record<string, string>, key: string, fallback: string): string {
  return Object.hasOwn(map, key) ? map[key]! : fallback;
}

function entries(): Entry[] {
  const list: Entry[] = [];
  list.push({
    file: 'ClientEnvelope.schema.json',
    kind: 'client',
    title: 'ClientEnvelope',
    description:
      'Every client → server frame: `{ type, ref?, payload }`. A text frame is JSON, a binary frame msgpack. `ref` (≤ 64 chars) is echoed on errors and on message.sent. Unknown payload fields are ignored.',
    schema: ClientEnvelope,
  });
  for (const [type, schema] of Object.entries(clientPayloads)) {
    list.push({
      file: `client.${type}.schema.json`,
      kind: 'client',
      title: `client ${type} payload`,
      description: describe(clientDescriptions, type, `Payload of the client frame \`${type}\`.`),
      schema,
    });
  }
  for (const [type, schema] of Object.entries(serverPayloads)) {
    list.push({
      file: `server.${type}.schema.json`,
      kind: 'server',
      title: `server ${type} payload`,
      description: describe(serverDescriptions, type, `Payload of the server frame \`${type}\`.`),
      schema,
    });
  }
  list.push({
    file: 'server.error.schema.json',
    kind: 'server',
    title: 'server error frame',
    description:
      'The whole `error` frame (it has `error` instead of `payload`): a stable `code` (lib/errors.ts), a message, `temporary` (a retry may help), `tempId` when the failed frame was a message.send, and the failed frame\'s `ref` when it had a valid one.',
    schema: ErrorFrame,
  });
  const allCommands: TSchema[] = [
    ...Object.values(commandSchemas),
    ...Object.values(optionalExport<Record<string, TSchema>>(commands, 'userCommandSchemas') ?? {}),
  ];
  for (const schema of allCommands) {
    const type = (schema.properties.type as { const: string }).const;
    list.push({
      file: `command.${type}.schema.json`,
      kind: 'command',
      title: `command ${type}`,
      description: describe(commandDescriptions, type, `Engine command \`${type}\`.`),
      schema,
    });
  }
  list.push({
    file: 'ConversationCommand.schema.json',
    kind: 'command',
    title: 'ConversationCommand',
    description: 'Any conversation command (JSON on the <PREFIX>_CMD_<partition> stream, subject <prefix>.cmd.<partition>).',
    schema: ConversationCommand,
  });
  const anyCommand = optionalExport<TSchema>(commands, 'AnyCommand');
  if (anyCommand) {
    list.push({
      file: 'Command.schema.json',
      kind: 'command',
      title: 'Command',
      description: 'Any engine command, conversation-level or user-level (JSON on the <PREFIX>_CMD_<partition> streams).',
      schema: anyCommand,
    });
  }
  list.push({
    file: 'CommandOutcome.schema.json',
    kind: 'command',
    title: 'CommandOutcome',
    description:
      'The engine\'s answer to the gateway a command came from (<prefix>.reply.<gatewayId>, core NATS): accepted, duplicate (with the original result: a WireMessage or WireConversation) or rejected (with an error code).',
    schema: CommandOutcome,
  });
  const allEvents: [string, TSchema][] = [
    ...Object.entries(eventSchemas),
    ...Object.entries(optionalExport<Record<string, TSchema>>(events, 'userEventSchemas') ?? {}),
  ];
  for (const [type, schema] of allEvents) {
    const where = Object.hasOwn(schema.properties as object, 'conversationId')
      ? '<prefix>.ev.conv.<conversationId>'
      : '<prefix>.ev.user.<userId>';
    list.push({
      file: `event.${type}.schema.json`,
      kind: 'event',
      title: type,
      description: `${schema.description ?? `Event ${type}.`} Stored as JSON on ${where} in the <PREFIX>_EVENTS stream (the audit log, kept forever).`,
      schema,
    });
  }
  list.push({
    file: 'ConversationEvent.schema.json',
    kind: 'event',
    title: 'ConversationEvent',
    description: 'Any conversation event of the audit log (<PREFIX>_EVENTS, subjects <prefix>.ev.conv.<conversationId>): `{ type, v, id, conversationId, actor, at, commandId, origin?, data }`.',
    schema: ConversationEvent,
  });
  const userEvent = optionalExport<TSchema>(events, 'UserEvent');
  if (userEvent) {
    list.push({
      file: 'UserEvent.schema.json',
      kind: 'event',
      title: 'UserEvent',
      description: 'Any user-level event of the audit log (<PREFIX>_EVENTS, subjects <prefix>.ev.user.<userId>): `{ type, v, id, userId, actor, at, commandId, origin?, data }`.',
      schema: userEvent,
    });
  }
  list.push({
    file: 'WireMessage.schema.json',
    kind: 'type',
    title: 'WireMessage',
    description: 'A message as clients see it, in message.sent and message.new.',
    schema: WireMessage,
  });
  list.push({
    file: 'WireConversation.schema.json',
    kind: 'type',
    title: 'WireConversation',
    description: 'A conversation as clients see it, in conversation.created.',
    schema: WireConversation,
  });
  return list;
}

/** File name (in schemas/json/) → JSON content, index.json included. */
export function jsonSchemaFiles(): Record<string, object> {
  const files: Record<string, object> = {};
  const index: { file: string; $id: string; kind: SchemaKind; title: string; description: string }[] = [];
  for (const e of entries()) {
    if (Object.hasOwn(files, e.file)) throw new Error(`two schemas would be written to ${e.file}`);
    const id = `${SCHEMA_ID_PREFIX}${e.file.replace(/\.schema\.json$/, '')}`;
    const { $id: _id, title: _title, description: _description, ...rest } = plain(e.schema);
    files[e.file] = { $schema: JSON_SCHEMA_DIALECT, $id: id, title: e.title, description: e.description, ...rest };
    index.push({ file: e.file, $id: id, kind: e.kind, title: e.title, description: e.description });
  }
  files['index.json'] = {
    $comment: 'Generated by `npm run schemas` (schemas/write-json-schemas.ts) from the TypeBox definitions in schemas/*.ts. Do not edit.',
    dialect: JSON_SCHEMA_DIALECT,
    schemas: index,
  };
  return files;
}

/** How a file is written: two-space JSON and a final newline. */
export function renderJson(value: object): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Write every file and remove `.json` files that no definition produces any more. */
export function writeJsonSchemaFiles(dir: string = jsonSchemaDir): string[] {
  const files = jsonSchemaFiles();
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.json') && !Object.hasOwn(files, name)) rmSync(join(dir, name));
  }
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), renderJson(content));
  return Object.keys(files);
}

const invokedPath = process.argv[1];
if (invokedPath !== undefined && pathToFileURL(realpathSync(invokedPath)).href === import.meta.url) {
  const written = writeJsonSchemaFiles();
  process.stdout.write(`wrote ${written.length} files to ${jsonSchemaDir}\n`);
}
