import type { JetStreamManager } from '@nats-io/jetstream';
import type { Names } from '../../lib/names.js';

/** Wait until the event log stops growing (receipts and projections happen asynchronously). */
export async function settleLog(jsm: JetStreamManager, names: Names, quietMs = 600): Promise<void> {
  let last = -1;
  let since = Date.now();
  for (;;) {
    const seq = (await jsm.streams.info(names.streams.events)).state.last_seq;
    if (seq !== last) {
      last = seq;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
