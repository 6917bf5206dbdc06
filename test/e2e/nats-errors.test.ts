import t from 'tap';
import { connectNats, isNotFound, jetstreamManager } from '../../lib/nats.js';
import { testConfig, testLog } from '../helpers/system.js';

/** NATS API errors are recognised by their code, as nats-server sends it, never by their wording. */
t.test('isNotFound: a missing stream or consumer, by the API error code', async (t) => {
  const config = testConfig();
  const nc = await connectNats(config, 'nats-errors-test', testLog);
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const stream = `${config.prefix.toUpperCase()}_NOT_FOUND_TEST`;
  const missingStream = await jsm.streams.info(stream).catch((err: unknown) => err);
  t.ok(isNotFound(missingStream), 'a stream that does not exist');
  await jsm.streams.add({ name: stream, subjects: [`${config.prefix}.not-found-test`] });
  t.teardown(() => jsm.streams.delete(stream));
  const missingConsumer = await jsm.consumers.info(stream, 'nobody').catch((err: unknown) => err);
  t.ok(isNotFound(missingConsumer), 'a consumer that does not exist');
  t.notOk(isNotFound(new Error('stream not found')), 'an error that only says so is not one');
  const otherApiError = await jsm.streams.add({ name: stream, subjects: [`${config.prefix}.other`] }).catch((err: unknown) => err);
  t.ok(otherApiError instanceof Error, 'creating it again differently fails');
  t.notOk(isNotFound(otherApiError), 'and that API error is not a not-found');
});
