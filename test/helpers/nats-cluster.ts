import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Test } from 'tap';
import { freePort, startNatsServer, type OwnNatsServer } from './nats-server.js';

const fetchScript = fileURLToPath(new URL('../../deploy/fetch-nats-server.sh', import.meta.url));

/**
 * The nats-server for clustered tests: 2.10.27, fetched into .cache/ by deploy/fetch-nats-server.sh
 * (2.9.10, the machine's, has a race in clustered optimistic concurrency). Undefined, with the
 * reason, when it cannot be had here: the caller skips with it.
 */
/** How long a new cluster may take to place a 3-replica stream (its meta leader must count every peer). */
const PLACEMENT_WAIT_MS = 90_000;

export async function clusterNatsServer(): Promise<{ binary: string } | { skip: string }> {
  if (process.env.PARLEY_TEST_CLUSTER_NATS_SERVER) {
    const binary = process.env.PARLEY_TEST_CLUSTER_NATS_SERVER;
    return existsSync(binary) ? { binary } : { skip: `PARLEY_TEST_CLUSTER_NATS_SERVER=${binary} does not exist` };
  }
  return new Promise((resolve) =>
    execFile('bash', [fetchScript], { timeout: 180_000 }, (err, stdout, stderr) => {
      const binary = stdout.trim().split('\n').pop() ?? '';
      if (err || !existsSync(binary)) resolve({ skip: `nats-server 2.10.27 could not be fetched (deploy/fetch-nats-server.sh: ${(stderr || String(err)).trim().split('\n').pop()})` });
      else resolve({ binary });
    }),
  );
}

export type NatsCluster = { nodes: OwnNatsServer[]; urls: string[] };

/** Three nats-servers routed into one cluster on loopback, JetStream on, ready once a meta leader answers. */
export async function startNatsCluster(t: Test, binary: string, size = 3): Promise<NatsCluster> {
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const clusterPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routes = clusterPorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const nodes: OwnNatsServer[] = [];
  for (let i = 0; i < size; i++) {
    nodes.push(
      await startNatsServer(t, {
        binary,
        port: ports[i]!,
        args: () => ['--server_name', `n${i + 1}`, '--cluster_name', 'parley', '--cluster', `nats://127.0.0.1:${clusterPorts[i]}`, '--routes', routes],
      }),
    );
  }
  const urls = nodes.map((n) => n.url);
  // JetStream answers once the cluster has a meta leader, but places a 3-replica stream only once
  // that leader knows every peer (before, "insufficient resources"): ready when one can be made.
  const nc = await connect({ servers: urls });
  try {
    // Generous: on a loaded 2-core box (a CI run beside another suite) it took over 30 s. The
    // clustered tests allow 240 s in all.
    const deadline = Date.now() + PLACEMENT_WAIT_MS;
    const probe = `CLUSTER_PROBE_${process.pid}`;
    for (;;) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2_000 });
        await jsm.streams.add({ name: probe, subjects: [`cluster-probe.${process.pid}`], num_replicas: size });
        await jsm.streams.delete(probe);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the cluster's JetStream could not place a ${size}-replica stream within ${PLACEMENT_WAIT_MS / 1000} s: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await nc.close();
  }
  return { nodes, urls };
}
