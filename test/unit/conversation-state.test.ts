import t from 'tap';
import {
  SENDER_RUNS_KEPT,
  countUnread,
  evolve,
  fromSnapshot,
  initialState,
  recordSender,
  sendersBetween,
  toSnapshot,
  type ConversationSnapshot,
  type ConversationState,
} from '../../lib/conversation-state.js';
import { AT_ISO, GROUP, given, groupCreated, memberLeft, membersAdded, messageDelivered, messageRead, messageSent } from '../helpers/decider-spec.js';

/** A state whose messages 1..n were sent by `senders[0..n-1]`, recorded as evolve does. */
function sentBy(...senders: string[]): ConversationState {
  const state = initialState(GROUP);
  senders.forEach((sender, i) => {
    state.lastMessageSeq = i + 1;
    recordSender(state, i + 1, sender);
  });
  return state;
}

/** A count map as a plain object with sorted keys, so maps compare regardless of insertion order. */
function counts(map: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

t.test('recordSender', async (t) => {
  t.test('run-length encodes: a run starts where the sender changes', async (t) => {
    const state = sentBy('alice', 'alice', 'bob', 'alice', 'alice', 'alice', 'carol');
    t.strictSame(state.senderRuns, [
      [1, 'alice'],
      [3, 'bob'],
      [4, 'alice'],
      [7, 'carol'],
    ]);
  });

  t.test('one sender, many messages: one run', async (t) => {
    t.strictSame(sentBy('bob', 'bob', 'bob', 'bob').senderRuns, [[1, 'bob']]);
  });

  t.test('no messages: no runs', async (t) => {
    t.strictSame(initialState(GROUP).senderRuns, []);
  });

  t.test('evolve records the sender of every MessageSent', async (t) => {
    const { state } = given(GROUP, [
      groupCreated('alice', { members: ['alice', 'bob'] }),
      messageSent('alice', GROUP, 1, { tempId: 'a1' }),
      messageSent('alice', GROUP, 2, { tempId: 'a2' }),
      messageSent('bob', GROUP, 3, { tempId: 'b1' }),
      messageRead('bob', 2),
      messageSent('alice', GROUP, 4, { tempId: 'a3' }),
    ]);
    t.strictSame(state.senderRuns, [
      [1, 'alice'],
      [3, 'bob'],
      [4, 'alice'],
    ]);
  });

  t.test(`keeps at most ${SENDER_RUNS_KEPT} runs: the oldest are dropped, a tenth at a time`, async (t) => {
    const state = initialState(GROUP);
    const total = SENDER_RUNS_KEPT + 2;
    for (let seq = 1; seq <= total; seq++) {
      state.lastMessageSeq = seq;
      recordSender(state, seq, seq % 2 === 1 ? 'alice' : 'bob');
    }
    const kept = state.senderRuns.length;
    t.ok(kept <= SENDER_RUNS_KEPT && kept >= Math.floor(SENDER_RUNS_KEPT * 0.9), `${kept} runs kept`);
    const first = total - kept + 1;
    t.strictSame(state.senderRuns[0], [first, first % 2 === 1 ? 'alice' : 'bob'], 'the oldest runs are gone');
    t.strictSame(state.senderRuns.at(-1), [total, 'bob']);
    // Dropped ranges are unknown: they count as from others, even for their own sender.
    t.strictSame(counts(sendersBetween(state, 0, 4, 'alice')), { '': 4 });
    t.strictSame(counts(sendersBetween(state, first - 2, first + 1, 'carol')), {
      '': 1,
      [first % 2 === 1 ? 'alice' : 'bob']: 1,
      [first % 2 === 1 ? 'bob' : 'alice']: 1,
    });
    t.strictSame(counts(sendersBetween(state, total - 2, total, 'carol')), { alice: 1, bob: 1 });
  });
});

t.test('sendersBetween', async (t) => {
  // 1 alice, 2 alice, 3 bob, 4 carol, 5 carol, 6 alice, 7 bob
  const state = sentBy('alice', 'alice', 'bob', 'carol', 'carol', 'alice', 'bob');

  t.test('counts each other sender’s messages in (afterSeq, upToSeq]', async (t) => {
    t.strictSame(counts(sendersBetween(state, 0, 7, 'dave')), { alice: 3, bob: 2, carol: 2 });
    t.strictSame(counts(sendersBetween(state, 1, 4, 'dave')), { alice: 1, bob: 1, carol: 1 });
    t.strictSame(counts(sendersBetween(state, 3, 5, 'dave')), { carol: 2 });
    t.strictSame(counts(sendersBetween(state, 4, 5, 'dave')), { carol: 1 });
    t.strictSame(counts(sendersBetween(state, 6, 7, 'dave')), { bob: 1 });
  });

  t.test('the user’s own messages are left out', async (t) => {
    t.strictSame(counts(sendersBetween(state, 0, 7, 'alice')), { bob: 2, carol: 2 });
    t.strictSame(counts(sendersBetween(state, 0, 7, 'carol')), { alice: 3, bob: 2 });
    t.strictSame(counts(sendersBetween(state, 0, 2, 'alice')), {});
    t.strictSame(counts(sendersBetween(state, 3, 5, 'carol')), {});
    t.equal(sendersBetween(state, 3, 5, 'carol').size, 0, 'a range of own messages is an empty map, not zero counts');
  });

  t.test('an empty range is an empty map', async (t) => {
    t.equal(sendersBetween(state, 3, 3, 'dave').size, 0);
    t.equal(sendersBetween(state, 5, 2, 'dave').size, 0);
    t.equal(sendersBetween(state, 7, 9, 'dave').size, 0, 'after the last message');
    t.equal(sendersBetween(initialState(GROUP), 0, 5, 'dave').size, 0, 'no messages at all');
  });

  t.test('upToSeq past the last message stops at the last message', async (t) => {
    t.strictSame(counts(sendersBetween(state, 5, 100, 'dave')), { alice: 1, bob: 1 });
  });

  t.test('a range older than the kept runs is attributed to "" (unknown, never the user)', async (t) => {
    // as if runs before seq 5 had been dropped: 5 carol, 6 alice, 7 bob
    const trimmed = sentBy('alice', 'alice', 'bob', 'carol', 'carol', 'alice', 'bob');
    trimmed.senderRuns = [
      [5, 'carol'],
      [6, 'alice'],
      [7, 'bob'],
    ];
    t.strictSame(counts(sendersBetween(trimmed, 0, 7, 'alice')), { '': 4, carol: 1, bob: 1 });
    t.strictSame(counts(sendersBetween(trimmed, 2, 5, 'carol')), { '': 2 });
    t.strictSame(counts(sendersBetween(trimmed, 4, 7, 'dave')), { carol: 1, alice: 1, bob: 1 });
    t.strictSame(counts(sendersBetween(trimmed, 1, 1, 'dave')), {});
  });
});

t.test('countUnread', async (t) => {
  // 1 alice, 2 alice, 3 bob, 4 carol, 5 carol, 6 alice, 7 bob
  const state = sentBy('alice', 'alice', 'bob', 'carol', 'carol', 'alice', 'bob');

  t.test('without a read watermark: every message from others', async (t) => {
    t.equal(countUnread(state, 'alice'), 4);
    t.equal(countUnread(state, 'bob'), 5);
    t.equal(countUnread(state, 'carol'), 5);
    t.equal(countUnread(state, 'dave'), 7);
  });

  t.test('after the read watermark only', async (t) => {
    state.read.set('alice', 3);
    state.read.set('carol', 5);
    state.read.set('bob', 7);
    t.equal(countUnread(state, 'alice'), 3);
    t.equal(countUnread(state, 'carol'), 2);
    t.equal(countUnread(state, 'bob'), 0);
  });

  t.test('no messages: nothing unread', async (t) => {
    t.equal(countUnread(initialState(GROUP), 'alice'), 0);
  });

  t.test('dropped runs count as unread from others', async (t) => {
    const trimmed = sentBy('alice', 'alice', 'bob');
    trimmed.senderRuns = [[3, 'bob']];
    t.equal(countUnread(trimmed, 'alice'), 3);
    t.equal(countUnread(trimmed, 'bob'), 2);
  });
});

t.test('snapshot', async (t) => {
  const history = [
    groupCreated('alice', { members: ['alice', 'bob'] }),
    membersAdded('carol'),
    messageSent('alice', GROUP, 1, { tempId: 'a1' }),
    messageSent('bob', GROUP, 2, { tempId: 'b1' }),
    messageSent('bob', GROUP, 3, { tempId: 'b2' }),
    messageDelivered('carol', 3),
    messageRead('bob', 1),
    messageSent('carol', GROUP, 4, { tempId: 'c1' }),
    memberLeft('alice'),
    membersAdded('dave'),
  ];

  t.test('toSnapshot writes every map as entries, in order', async (t) => {
    const { state } = given(GROUP, history);
    const snapshot = toSnapshot(state);
    t.strictSame(snapshot, {
      id: GROUP,
      exists: true,
      kind: 'group',
      title: 'Team',
      joinPolicy: 'invite',
      createdBy: 'alice',
      createdAt: AT_ISO,
      firstEventSeq: 1,
      members: [
        ['bob', 'member'],
        ['carol', 'member'],
        ['dave', 'member'],
      ],
      lastMessageSeq: 4,
      delivered: [
        ['carol', 3],
        ['bob', 1],
        ['dave', 4],
      ],
      read: [
        ['bob', 1],
        ['dave', 4],
      ],
      unread: [
        ['carol', 3],
        ['bob', 1],
        ['dave', 0],
      ],
      senderRuns: [
        [1, 'alice'],
        [2, 'bob'],
        [4, 'carol'],
      ],
      messages: [
        ['m_a1', [1, 'alice', 0]],
        ['m_b1', [2, 'bob', 0]],
        ['m_b2', [3, 'bob', 0]],
        ['m_c1', [4, 'carol', 0]],
      ],
      reactions: [],
      version: 10,
      recentCommands: [
        ['cmd-create-g_team', 1],
        ['cmd-join-carol-g_team', 2],
        ['alice:a1', 3],
        ['bob:b1', 4],
        ['bob:b2', 5],
        ['cmd-delivered-carol-g_team-3', 6],
        ['cmd-read-bob-g_team-1', 7],
        ['carol:c1', 8],
        ['cmd-leave-alice-g_team', 9],
        ['cmd-join-dave-g_team', 10],
      ],
    } satisfies ConversationSnapshot);
  });

  t.test('round trip through JSON restores the same state, maps and runs included', async (t) => {
    const { state } = given(GROUP, history);
    const json = JSON.parse(JSON.stringify(toSnapshot(state))) as ConversationSnapshot;
    const restored = fromSnapshot(json);
    t.strictSame(restored, state);
    t.ok(restored.delivered instanceof Map && restored.read instanceof Map && restored.unread instanceof Map);
    for (const m of restored.members.keys()) t.equal(countUnread(restored, m), restored.unread.get(m) ?? 0, `unread of ${m}`);
  });

  t.test('neither copy shares maps or runs with its source', async (t) => {
    const { state } = given(GROUP, history);
    const snapshot = toSnapshot(state);
    const restored = fromSnapshot(snapshot);
    for (const key of ['members', 'recentCommands', 'delivered', 'read', 'unread', 'senderRuns'] as const) {
      t.not(restored[key], state[key], `${key} is a copy`);
    }
    t.not(snapshot.senderRuns, state.senderRuns);
    t.not(snapshot.senderRuns[0], state.senderRuns[0], 'runs are copied one by one');
    t.not(restored.senderRuns[0], snapshot.senderRuns[0]);
    // folding on into the restored state leaves the original and the snapshot alone
    evolve(restored, messageSent('dave', GROUP, 5, { tempId: 'd1' }), 11);
    evolve(restored, messageRead('carol', 5), 12);
    t.equal(state.lastMessageSeq, 4);
    t.strictSame(state.senderRuns, [
      [1, 'alice'],
      [2, 'bob'],
      [4, 'carol'],
    ]);
    t.equal(state.read.has('carol'), false);
    t.strictSame(state.unread.get('bob'), 1);
    t.strictSame(snapshot.senderRuns, [
      [1, 'alice'],
      [2, 'bob'],
      [4, 'carol'],
    ]);
    t.strictSame(restored.senderRuns, [
      [1, 'alice'],
      [2, 'bob'],
      [4, 'carol'],
      [5, 'dave'],
    ]);
  });

  t.test('an initial state round trips', async (t) => {
    const state = initialState('g_empty');
    t.strictSame(fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(state)))), state);
  });
});
