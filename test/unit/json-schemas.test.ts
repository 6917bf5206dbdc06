import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { clientPayloads, eventSchemas, serverPayloads } from '../../schemas/index.js';
import { JSON_SCHEMA_DIALECT, jsonSchemaDir, jsonSchemaFiles } from '../../schemas/write-json-schemas.js';

const generated = jsonSchemaFiles();
const onDisk = readdirSync(jsonSchemaDir).filter((name) => name.endsWith('.json'));
const read = (name: string): Record<string, any> => JSON.parse(readFileSync(join(jsonSchemaDir, name), 'utf8'));
const schemaFiles = Object.keys(generated).filter((name) => name.endsWith('.schema.json'));

t.test('schemas/json is what `npm run schemas` writes now', async (t) => {
  t.strictSame([...onDisk].sort(), Object.keys(generated).sort(), 'the same files (run `npm run schemas`)');
  for (const [name, content] of Object.entries(generated)) {
    if (!onDisk.includes(name)) continue;
    t.strictSame(read(name), content, `${name} is up to date (run \`npm run schemas\`)`);
  }
});

t.test('generation is deterministic', async (t) => {
  t.equal(JSON.stringify(jsonSchemaFiles()), JSON.stringify(generated));
});

t.test('every definition has a file', async (t) => {
  for (const type of Object.keys(clientPayloads)) t.ok(generated[`client.${type}.schema.json`], `client ${type}`);
  for (const type of Object.keys(serverPayloads)) t.ok(generated[`server.${type}.schema.json`], `server ${type}`);
  t.ok(generated['server.error.schema.json'], 'error frame');
  for (const type of Object.keys(eventSchemas)) t.ok(generated[`event.${type}.schema.json`], `event ${type}`);
  for (const name of ['command.conversation.create', 'command.conversation.join', 'command.conversation.leave', 'command.message.send']) {
    t.ok(generated[`${name}.schema.json`], name);
  }
  for (const name of ['CommandOutcome', 'WireMessage', 'WireConversation']) t.ok(generated[`${name}.schema.json`], name);
});

t.test('each file is one self-described schema resource', async (t) => {
  const ids = new Set<string>();
  for (const name of schemaFiles) {
    const s = generated[name] as Record<string, unknown>;
    t.equal(s.$schema, JSON_SCHEMA_DIALECT, `${name} $schema`);
    t.type(s.$id, 'string', `${name} $id`);
    t.notOk(ids.has(s.$id as string), `${name} $id is unique`);
    ids.add(s.$id as string);
    t.ok(typeof s.title === 'string' && s.title.length > 0, `${name} title`);
    t.ok(typeof s.description === 'string' && s.description.length > 0, `${name} description`);
    t.equal(JSON.stringify(s).split('"$id"').length - 1, 1, `${name} has no nested $id`);
  }
});

t.test('every event schema requires the event envelope', async (t) => {
  const events = schemaFiles.filter((name) => name.startsWith('event.'));
  for (const type of Object.keys(eventSchemas)) t.ok(events.includes(`event.${type}.schema.json`), `event ${type} has a file`);
  for (const name of events) {
    const s = generated[name] as { type: string; required: string[]; properties: Record<string, unknown> };
    t.equal(s.type, 'object', `${name} is an object`);
    // Conversation events are keyed by conversationId; user-level events (blocks) by userId.
    const conversationEvent = Object.hasOwn(eventSchemas, name.slice('event.'.length, -'.schema.json'.length));
    const key = conversationEvent || Object.hasOwn(s.properties, 'conversationId') ? 'conversationId' : 'userId';
    for (const field of ['type', 'v', 'id', key, 'actor', 'at', 'commandId', 'data']) {
      t.ok(s.required.includes(field), `${name} requires ${field}`);
      t.ok(Object.hasOwn(s.properties, field), `${name} defines ${field}`);
    }
  }
});

t.test('index.json lists every schema file once', async (t) => {
  const index = generated['index.json'] as { dialect: string; schemas: { file: string; $id: string }[] };
  t.equal(index.dialect, JSON_SCHEMA_DIALECT);
  t.strictSame(index.schemas.map((e) => e.file).sort(), [...schemaFiles].sort());
  for (const entry of index.schemas) t.equal(entry.$id, (generated[entry.file] as { $id: string }).$id, `${entry.file} id`);
});
