import t from 'tap';
import { RECENT_COMMANDS_KEPT } from '../../lib/conversation-state.js';
import { decideUser, evolveUser, initialUserState } from '../../engine/user-decider.js';
import { compile, UserEvent, validateCommand } from '../../schemas/index.js';
import { ACTORS, AT, AT_ISO, ORIGIN, block, eventIdOf, givenUser, unblock, userBlocked, userUnblocked } from '../helpers/decider-spec.js';

const ALICE = ACTORS.alice!;
const validateUserEvent = compile(UserEvent);

t.test('block.add', async (t) => {
  t.test('alice blocks bob: UserBlocked on alice’s stream', async (t) => {
    givenUser('alice')
      .when(block('alice', 'bob'))
      .then(t, [
        {
          type: 'UserBlocked',
          v: 1,
          id: eventIdOf('cmd-block-alice-bob'),
          userId: 'alice',
          actor: ALICE,
          at: AT_ISO,
          commandId: 'cmd-block-alice-bob',
          origin: ORIGIN,
          data: { blockedUserId: 'bob' },
        },
      ]);
  });

  t.test('without an origin the event has none', async (t) => {
    givenUser('alice').when(block('alice', 'bob', { origin: null })).then(t, [userBlocked('alice', 'bob', { origin: null })]);
  });

  t.test('blocking someone already blocked is a no-op', async (t) => {
    givenUser('alice', [userBlocked('alice', 'bob')]).when(block('alice', 'bob', { id: 'cmd-again' })).thenNoop(t);
  });

  t.test('blocking another user while one is blocked appends', async (t) => {
    givenUser('alice', [userBlocked('alice', 'bob')]).when(block('alice', 'carol')).then(t, [userBlocked('alice', 'carol')]);
  });

  t.test('blocking again after an unblock appends', async (t) => {
    givenUser('alice', [userBlocked('alice', 'bob'), userUnblocked('alice', 'bob')])
      .when(block('alice', 'bob', { id: 'cmd-block-again' }))
      .then(t, [userBlocked('alice', 'bob', { commandId: 'cmd-block-again' })]);
  });

  t.test('a block by bob of alice is not alice’s block of bob', async (t) => {
    givenUser('bob').when(block('bob', 'alice')).then(t, [userBlocked('bob', 'alice')]);
  });
});

t.test('block.remove', async (t) => {
  t.test('unblocking a blocked user: UserUnblocked', async (t) => {
    givenUser('alice', [userBlocked('alice', 'bob')])
      .when(unblock('alice', 'bob'))
      .then(t, [
        {
          type: 'UserUnblocked',
          v: 1,
          id: eventIdOf('cmd-unblock-alice-bob'),
          userId: 'alice',
          actor: ALICE,
          at: AT_ISO,
          commandId: 'cmd-unblock-alice-bob',
          origin: ORIGIN,
          data: { blockedUserId: 'bob' },
        },
      ]);
  });

  t.test('unblocking someone not blocked is a no-op', async (t) => {
    givenUser('alice').when(unblock('alice', 'bob')).thenNoop(t);
    givenUser('alice', [userBlocked('alice', 'carol')]).when(unblock('alice', 'bob')).thenNoop(t);
    givenUser('alice', [userBlocked('alice', 'bob'), userUnblocked('alice', 'bob')])
      .when(unblock('alice', 'bob', { id: 'cmd-again' }))
      .thenNoop(t);
  });
});

t.test('rules', async (t) => {
  t.test('blocking or unblocking yourself is a validation_error', async (t) => {
    givenUser('alice').when(block('alice', 'alice')).thenRejects(t, 'validation_error');
    givenUser('alice').when(unblock('alice', 'alice')).thenRejects(t, 'validation_error');
  });

  t.test('acting on another user’s blocks is forbidden', async (t) => {
    givenUser('alice').when(block('mallory', 'bob', { userId: 'alice' })).thenRejects(t, 'forbidden');
    givenUser('alice', [userBlocked('alice', 'bob')]).when(unblock('mallory', 'bob', { userId: 'alice' })).thenRejects(t, 'forbidden');
    // forbidden even where the change would be a no-op
    givenUser('alice', [userBlocked('alice', 'bob')]).when(block('mallory', 'bob', { userId: 'alice', id: 'x' })).thenRejects(t, 'forbidden');
    givenUser('alice').when(unblock('mallory', 'bob', { userId: 'alice' })).thenRejects(t, 'forbidden');
  });

  t.test('a command decided before answers duplicate with its event’s stream seq', async (t) => {
    const history = [userBlocked('alice', 'bob'), userBlocked('alice', 'carol'), userUnblocked('alice', 'bob')];
    givenUser('alice', history).when(block('alice', 'bob')).thenDuplicate(t, 1); // not a new block
    givenUser('alice', history).when(block('alice', 'carol')).thenDuplicate(t, 2); // not a no-op
    givenUser('alice', history).when(unblock('alice', 'bob')).thenDuplicate(t, 3); // not a no-op
  });

  t.test(`only the last ${RECENT_COMMANDS_KEPT} command ids are remembered`, async (t) => {
    const history = Array.from({ length: RECENT_COMMANDS_KEPT + 1 }, (_, i) =>
      i % 2 === 0 ? userBlocked('alice', 'bob', { commandId: `b${i}` }) : userUnblocked('alice', 'bob', { commandId: `u${i}` }),
    );
    const g = givenUser('alice', history);
    t.equal(g.state.recentCommands.size, RECENT_COMMANDS_KEPT);
    t.equal(g.state.recentCommands.has('b0'), false, 'the oldest is forgotten');
    g.when(block('alice', 'bob', { id: 'b0' })).thenNoop(t); // bob is blocked (the last event is a block)
    g.when(block('alice', 'bob', { id: 'b2' })).thenDuplicate(t, 3);
    g.when(block('alice', 'bob', { id: `b${RECENT_COMMANDS_KEPT}` })).thenDuplicate(t, RECENT_COMMANDS_KEPT + 1);
  });
});

t.test('event ids are deterministic: same command, same event', async (t) => {
  const command = block('alice', 'bob');
  const first = givenUser('alice').when(command).decision;
  const second = givenUser('alice').when(structuredClone(command)).decision;
  t.strictSame(first, second);
  t.equal(first.kind, 'append');
  if (first.kind !== 'append') return;
  t.equal(first.events[0]!.id, eventIdOf(command.id));
  t.match(first.events[0]!.id, /^e_[A-Za-z0-9_-]{26}$/);
  const other = givenUser('alice').when(block('alice', 'bob', { id: 'cmd-other' })).decision;
  t.not(other.kind === 'append' ? other.events[0]!.id : '', first.events[0]!.id, 'another command, another id');
  const atLater = givenUser('alice').when(block('alice', 'bob', { at: AT + 1000 })).decision;
  t.equal(atLater.kind === 'append' ? atLater.events[0]!.id : '', first.events[0]!.id, 'the id depends on the command id only');
});

t.test('evolveUser', async (t) => {
  t.test('initial state', async (t) => {
    t.strictSame(initialUserState('alice'), { id: 'alice', blocked: new Set(), version: 0, recentCommands: new Map() });
  });

  t.test('folds blocks and unblocks; version is the stream seq of the last event', async (t) => {
    const state = initialUserState('alice');
    t.equal(evolveUser(state, userBlocked('alice', 'bob'), 7), state, 'mutates and returns the state');
    evolveUser(state, userBlocked('alice', 'carol'), 9);
    evolveUser(state, userUnblocked('alice', 'bob'), 20);
    t.strictSame(state, {
      id: 'alice',
      blocked: new Set(['carol']),
      version: 20,
      recentCommands: new Map([
        ['cmd-block-alice-bob', 7],
        ['cmd-block-alice-carol', 9],
        ['cmd-unblock-alice-bob', 20],
      ]),
    });
  });

  t.test('a redelivered event keeps the first stream seq of its command', async (t) => {
    const state = initialUserState('alice');
    evolveUser(state, userBlocked('alice', 'bob'), 3);
    evolveUser(state, userBlocked('alice', 'bob'), 4);
    t.equal(state.recentCommands.get('cmd-block-alice-bob'), 3);
    t.equal(state.version, 4);
  });
});

t.test('decideUser is pure: deciding does not change the state', async (t) => {
  const g = givenUser('alice', [userBlocked('alice', 'bob')]);
  const before = structuredClone(g.state);
  g.when(unblock('alice', 'bob'));
  g.when(block('alice', 'carol'));
  t.strictSame(g.state, before);
  t.strictSame(decideUser(block('alice', 'carol'), g.state), decideUser(block('alice', 'carol'), g.state));
});

t.test('builders and decided events are schema-valid', async (t) => {
  for (const command of [block('alice', 'bob'), unblock('alice', 'bob'), block('alice', 'bob', { origin: null })]) {
    t.strictSame(validateCommand(command), { ok: true, value: command }, `${command.type} is valid`);
  }
  const decided = [
    givenUser('alice').when(block('alice', 'bob')).decision,
    givenUser('alice', [userBlocked('alice', 'bob')]).when(unblock('alice', 'bob')).decision,
    givenUser('alice').when(block('alice', 'bob', { origin: null })).decision,
  ];
  for (const d of decided) {
    t.equal(d.kind, 'append');
    if (d.kind === 'append') for (const event of d.events) t.strictSame(validateUserEvent(event), { ok: true, value: event }, `${event.type} is valid`);
  }
});
