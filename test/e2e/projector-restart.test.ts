import t from 'tap';
import { startSystem } from '../helpers/system.js';
import { startRoleProcess } from '../helpers/processes.js';

t.test('kill -9 the delivery projector mid-stream: after restart every member gets every message once, in order', async (t) => {
  const sys = await startSystem(t, {}, ['gateway', 'engine']);
  let projector = await startRoleProcess(t, 'projector', sys.config);
  const ann = await sys.connect('ann');
  const ben = await sys.connect('ben');
  const cat = await sys.connect('cat');
  ann.send({ type: 'conversation.create', payload: { kind: 'group', title: 'crash', members: ['ben', 'cat'] } });
  const conversationId = (await ann.next('conversation.created')).payload.conversation.id;

  const total = 300;
  for (let i = 0; i < total; i++) {
    const from = [ann, ben, cat][i % 3]!;
    from.send({ type: 'message.send', payload: { conversationId, tempId: `p${i}`, content: `p${i}` } });
    if (i === 120) await projector.kill('SIGKILL');
    if (i === 200) projector = await startRoleProcess(t, 'projector', sys.config);
    await new Promise((r) => setTimeout(r, 1));
  }
  for (const member of [ann, ben, cat]) {
    const deadline = Date.now() + 30_000;
    const seen = () => member.frames.filter((f) => f.type === 'message.new' || f.type === 'message.sent');
    while (seen().length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    const seqs = seen().map((f) => f.payload.message.seq);
    t.equal(seqs.length, total, 'no message lost or delivered twice');
    t.same(seqs, Array.from({ length: total }, (_, i) => i + 1), 'in conversation order');
    const cursors = member.frames.filter((f) => typeof f.seq === 'number').map((f) => f.seq!);
    t.same(cursors, [...cursors].sort((a, b) => a - b), 'inbox cursors only go up');
  }
  await projector.kill('SIGTERM');
});
