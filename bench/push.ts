/**
 * `npm run bench -- push`: what the push projector and sender sustain. A group of --members
 * offline users, each with one Web Push subscription on a loopback push service that answers 201
 * at once, gets --messages messages (no coalescing: every message is a push to every member).
 * Reported: pushes/s from the first push to the last, and CPU µs per push of the push process
 * (projector and sender: decide, encrypt with aes128gcm, sign VAPID, POST, record).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createECDH, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import webpush from 'web-push';
import { cpuSeconds, fmtInt, formatMs, inBatches, intFlag, machineLine, waitFor, withUsage } from './scenario-lib/common.js';
import { startScenarioSystem, tearDown } from './scenario-lib/system.js';
import { READ_MODELS_NOTE } from './lib/database.js';

export const help = `Usage: npm run bench -- push [options]

Starts its own Parley (engine, projector, gateway, and the push role as separate processes, on a
private prefix) and a loopback push service that answers 201, then sends --messages messages to a
group whose --members other members are offline and each subscribed once: --messages × --members
pushes, none coalesced (PARLEY_PUSH_COALESCE_MS=0).

Options:
  --members <n>     offline members with a subscription (default 50)
  --messages <n>    messages sent to the group (default 200)
  --timeout-s <n>   bound for the wait (default 300)
  -h, --help        this help

${READ_MODELS_NOTE}
`;

export async function run(argv: string[]): Promise<number> {
  return withUsage(help, async () => {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: { members: { type: 'string' }, messages: { type: 'string' }, 'timeout-s': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      process.stdout.write(help);
      return 0;
    }
    const members = intFlag(values, 'members', 50);
    const messages = intFlag(values, 'messages', 200);
    const timeoutMs = intFlag(values, 'timeout-s', 300) * 1000;
    process.stdout.write(`${machineLine()}\n`);

    // The push service: counts, answers 201 at once (no decryption: the bench measures Parley).
    let received = 0;
    let first = 0;
    let last = 0;
    const service = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received++;
        last = performance.now();
        if (first === 0) first = last;
        res.writeHead(201).end();
      });
    });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;

    const vapid = webpush.generateVAPIDKeys();
    const system = await startScenarioSystem('push', {
      PARLEY_VAPID_PUBLIC_KEY: vapid.publicKey,
      PARLEY_VAPID_PRIVATE_KEY: vapid.privateKey,
      PARLEY_VAPID_SUBJECT: 'mailto:bench@example.com',
      PARLEY_PUSH_ALLOW_INSECURE: '1',
      PARLEY_PUSH_COALESCE_MS: '0',
    });
    try {
      await system.start('engine');
      await system.start('projector');
      const pusher = await system.start('push', { PARLEY_PUSH: '1' });
      await system.start('gateway');
      const base = system.url.replace('ws://', 'http://').replace('/ws', '');
      const call = async (user: string, method: string, path: string, body: unknown) => {
        const res = await fetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${await system.token(user)}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
        return res.json() as Promise<Record<string, unknown>>;
      };
      const users = Array.from({ length: members }, (_, i) => `m${i}`);
      await inBatches(members, 16, async (i) => {
        const ecdh = createECDH('prime256v1');
        ecdh.generateKeys();
        await call(users[i]!, 'POST', '/v1/push/subscriptions', {
          endpoint: `${origin}/push/${i}`,
          keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') },
        });
      });
      const group = (await call('sender', 'POST', '/v1/conversations', { kind: 'group', title: 'push bench', members: users })) as { conversation: { id: string } };
      const expected = messages * members;
      process.stdout.write(`push: ${fmtInt(messages)} messages to a group of ${members} offline members: ${fmtInt(expected)} pushes expected\n`);
      const cpu0 = cpuSeconds(pusher.pid);
      const t0 = performance.now();
      await inBatches(messages, 8, (i) => call('sender', 'POST', '/v1/messages', { conversationId: group.conversation.id, tempId: `b${i}`, content: `bench message ${i} with a little text to preview` }));
      const sentMs = performance.now() - t0;
      const done = await waitFor(() => received >= expected, timeoutMs, 50);
      const cpu = cpuSeconds(pusher.pid) - cpu0;
      const spanMs = last - first;
      process.stdout.write(
        [
          `sent in ${formatMs(sentMs)}; pushes received ${fmtInt(received)}/${fmtInt(expected)}${done ? '' : ' (timed out)'} over ${formatMs(spanMs)}`,
          `pushes/s (first push → last): ${fmtInt(spanMs > 0 ? (received / spanMs) * 1000 : 0)}`,
          `push process CPU: ${cpu.toFixed(2)} s, ${fmtInt((cpu * 1e6) / Math.max(1, received))} µs per push`,
          '',
        ].join('\n'),
      );
      return done ? 0 : 1;
    } finally {
      await tearDown(system);
      service.close();
    }
  });
}
