import t from 'tap';
import { SnapshotCadence } from '../../lib/snapshots.js';

t.test('a conversation is due once per `every` events folded into it, however the others interleave', async (t) => {
  const cadence = new SnapshotCadence(10);
  const due = new Map<string, number>();
  // 100 conversations, 25 events each, round robin: stream sequences jump by 100 between one
  // conversation's events, which must not make every event due.
  for (let round = 0; round < 25; round++) {
    for (let c = 0; c < 100; c++) {
      if (cadence.due(`c${c}`)) due.set(`c${c}`, (due.get(`c${c}`) ?? 0) + 1);
    }
  }
  t.equal(due.size, 100, 'every conversation got snapshots');
  t.same([...new Set(due.values())], [2], '25 events at every 10 → exactly 2 snapshots each');
});

t.test('a snapshot read or written starts the count over', async (t) => {
  const cadence = new SnapshotCadence(3);
  t.notOk(cadence.due('a'));
  t.notOk(cadence.due('a'));
  cadence.reset('a');
  t.notOk(cadence.due('a'));
  t.notOk(cadence.due('a'));
  t.ok(cadence.due('a'), 'third fold after the reset');
  t.notOk(cadence.due('a'), 'and the count starts over');
});
