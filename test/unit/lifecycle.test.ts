import t from 'tap';
import { StartUp } from '../../app/lifecycle.js';

const part = (name: string, log: string[], failStop = false) => ({
  stats: () => ({ name }),
  async stop() {
    log.push(`stop ${name}`);
    if (failStop) throw new Error(`${name} would not stop`);
  },
});

t.test('a failed start stops what already started, newest first, and passes the failure on', async (t) => {
  const log: string[] = [];
  const stopErrors: unknown[] = [];
  const startUp = new StartUp((err) => stopErrors.push(err));
  await startUp.resource(async () => 'connection', async (c) => void log.push(`close ${c}`));
  await startUp.run(async () => log.push('streams ensured'));
  await startUp.component(async () => part('engine', log, true));
  await startUp.component(async () => undefined); // a part this role does not run
  await startUp.component(async () => part('projector', log));
  await t.rejects(
    startUp.component(async () => {
      throw new Error('cannot listen on 127.0.0.1:8080');
    }),
    /cannot listen/,
  );
  t.strictSame(log, ['streams ensured', 'stop projector', 'stop engine', 'close connection']);
  t.equal(stopErrors.length, 1, "the engine's failure to stop is reported, and the rest still stop");
});

t.test('nothing is stopped when every part starts', async (t) => {
  const log: string[] = [];
  const startUp = new StartUp(() => undefined);
  const engine = await startUp.component(async () => part('engine', log));
  t.ok(engine);
  t.strictSame(log, []);
});
