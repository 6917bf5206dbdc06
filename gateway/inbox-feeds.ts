import type { Msg, NatsConnection } from '@nats-io/nats-core';
import type { Config } from '../lib/config.js';
import type { Faults } from '../lib/faults.js';
import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';
import { DirectGets, DirectReader } from './direct-get.js';
import { createFeedSubscriptions } from './feed-subscriptions.js';
import { InboxReplay } from './inbox-replay.js';
import { UserFeeds } from './user-feeds.js';

/** How inbox entries reach the sockets: the per-user feeds, the replays that catch sockets up, and the Direct Gets both read with. */
export type InboxFeeds = {
  feeds: UserFeeds;
  replay: InboxReplay;
  directGets: DirectGets;
  close(): void;
};

export function openInboxFeeds(deps: { nc: NatsConnection; config: Config; names: Names; faults: Faults; log: Logger }): InboxFeeds {
  const { nc, config, names, faults, log } = deps;
  const directGets = new DirectGets(nc);
  const inboxReader = new DirectReader(directGets, names.streams.inbox);
  const replay = new InboxReplay(nc, inboxReader, log);
  const feeds = new UserFeeds(names, inboxReader, replay, log);
  feeds.subscribe(
    createFeedSubscriptions(
      config.gatewayFeeds,
      nc,
      names,
      {
        live: faults.guard('live feed', (userId: string, msg: Msg) => feeds.onLive(userId, msg)),
        ephemeral: faults.guard('ephemeral feed', (userId: string, msg: Msg) => feeds.onEphemeral(userId, msg)),
      },
      log,
    ),
  );
  return {
    feeds,
    replay,
    directGets,
    close() {
      feeds.close();
      replay.close();
      directGets.close();
    },
  };
}
