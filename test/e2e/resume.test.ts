import t from 'tap';
import { startSystem } from '../helpers/system.js';
import { defaultConfig } from '../../lib/config.js';

t.test('resume from a cursor: exactly what was missed, in order, then live, with no gap or duplicate at the seam', async (t) => {
  const sys = await startSystem(t);
  const alice = await sys.connect('alice');
  let bob = await sys.connect('bob');
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'first', content: 'first' } });
  await bob.next('message.new');
  const cursor = bob.cursor;
  await bob.close();

  const missed = 25;
  for (let i = 0; i < missed; i++) alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: `m${i}`, content: `m${i}` } });
  await alice.collect('message.sent', missed + 1);

  bob = await sys.connect('bob', { cursor, expectSuccess: false });
  const hello = await bob.next('connection.success');
  t.equal(hello.payload.resumed, true);
  t.equal(hello.payload.cursor, cursor);
  // While the replay runs, more arrive live: the seam must hold.
  for (let i = 0; i < 10; i++) alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: `l${i}`, content: `l${i}` } });
  const got = await bob.collect('message.new', missed + 10);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(bob.of('message.new').length, missed + 10, 'nothing twice');
  t.same(
    got.map((f) => f.payload.message.content),
    [...Array.from({ length: missed }, (_, i) => `m${i}`), ...Array.from({ length: 10 }, (_, i) => `l${i}`)],
  );
  const seqs = bob.frames.filter((f) => typeof f.seq === 'number').map((f) => f.seq!);
  t.same(seqs, [...new Set(seqs)].sort((a, b) => a - b), 'cursors strictly increase');
});

t.test('an offline user gets everything on first connect (cursor 0)', async (t) => {
  const sys = await startSystem(t);
  const alice = await sys.connect('alice');
  alice.send({ type: 'conversation.create', payload: { kind: 'group', title: 'while you were out', members: ['carol'] } });
  const conversationId = (await alice.next('conversation.created')).payload.conversation.id;
  for (let i = 0; i < 5; i++) alice.send({ type: 'message.send', payload: { conversationId, tempId: `o${i}`, content: `o${i}` } });
  await alice.collect('message.sent', 5);
  const carol = await sys.connect('carol', { cursor: 0 });
  t.equal((await carol.next('conversation.created')).payload.conversation.title, 'while you were out');
  const got = await carol.collect('message.new', 5);
  t.same(got.map((f) => f.payload.message.seq), [1, 2, 3, 4, 5]);
  t.equal(carol.of('connection.success')[0]!.payload.resumed, true);
});

t.test('a cursor older than the inbox keeps gets resume.reset, never a silent gap', async (t) => {
  const sys = await startSystem(t, { inbox: { ...defaultConfig().inbox, maxPerUser: 5 } });
  const alice = await sys.connect('alice');
  let bob = await sys.connect('bob');
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'x0', content: 'x0' } });
  await bob.next('message.new');
  const cursor = bob.cursor;
  await bob.close();
  for (let i = 1; i <= 12; i++) alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: `x${i}`, content: `x${i}` } });
  await alice.collect('message.sent', 13);

  bob = await sys.connect('bob', { cursor, expectSuccess: false });
  const hello = await bob.next('connection.success');
  t.equal(hello.payload.resumed, false);
  const reset = await bob.next('resume.reset');
  t.equal(reset.payload.requestedCursor, cursor);
  t.equal(reset.payload.cursor, hello.payload.cursor, 'the socket continues from the inbox end');
  t.ok(reset.payload.cursor > cursor);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(bob.of('message.new').length, 0, 'no partial history after a reset');
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'after', content: 'after the reset' } });
  t.equal((await bob.next('message.new')).payload.message.content, 'after the reset', 'live delivery continues');

  const bogus = await sys.connect('bob', { cursor: 10_000_000, expectSuccess: false });
  t.match((await bogus.next('resume.reset')).payload, { requestedCursor: 10_000_000, reason: /past the end/ });
});
