/**
 * parley_nats_connected{connection}: 1 while a NATS connection of this process is up, 0 while it
 * is disconnected (reconnecting). The label is the connection's name (lib/nats.ts connectNats:
 * `parley-<role>`, `parley-gateway-commands`), a name from the code, never from a request.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { gaugeFrom, OTHER, Sources } from './metrics.js';

type Watched = { name: string; up: () => boolean };

const watched = new Sources<Watched>();

gaugeFrom({
  name: 'parley_nats_connected',
  help: 'NATS connection state: 1 connected, 0 disconnected (by connection name)',
  labelNames: ['connection'],
  read: (g) => {
    g.reset();
    const byName = new Map<string, number>();
    // Two connections of one name in a process (tests run several roles in one): 0 if either is down.
    for (const w of watched.all) byName.set(w.name, Math.min(byName.get(w.name) ?? 1, w.up() ? 1 : 0));
    for (const [connection, value] of byName) g.set({ connection }, value);
  },
});

/** Follow `nc`'s status until it closes. */
export function watchNatsConnection(nc: NatsConnection, name: string): void {
  let connected = true;
  const label = /^[a-z0-9-]{1,48}$/.test(name) ? name : OTHER;
  const remove = watched.add({ name: label, up: () => connected && !nc.isClosed() });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') connected = false;
      if (s.type === 'reconnect') connected = true;
    }
  })();
  void nc.closed().then(remove, remove);
}
