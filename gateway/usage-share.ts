import type { NatsConnection } from '@nats-io/nats-core';
import { decodeJson, encodeJson } from '../lib/json.js';
import type { Logger } from '../lib/log.js';
import type { UsageReport, UserLimits } from './user-limits.js';

/** How often a gateway reports its busy users' takes: the lag before other gateways debit them. */
export const USAGE_INTERVAL_MS = 250;

/**
 * Keeps per-user rate limits coherent across gateways (user-limits.ts says how closely): every
 * USAGE_INTERVAL_MS this gateway publishes on core NATS (`<prefix>.limits.usage`, never stored) the
 * tokens its busy users took, and debits what the other gateways publish. A lost report only makes
 * the limit looser for an interval; nothing waits for one.
 */
export function startUsageShare(x: { nc: NatsConnection; subject: string; gatewayId: string; users: UserLimits; log: Logger }): { stop(): void } {
  const sub = x.nc.subscribe(x.subject, {
    callback: (err, msg) => {
      if (err) return;
      try {
        const report = decodeJson<UsageReport>(msg.data);
        if (report.gatewayId !== x.gatewayId && Array.isArray(report.sends) && Array.isArray(report.frames)) x.users.apply(report);
      } catch (e) {
        x.log.debug({ err: e }, 'ignored a malformed usage report');
      }
    },
  });
  const timer = setInterval(() => {
    const report = x.users.report(x.gatewayId, USAGE_INTERVAL_MS);
    if (!report || x.nc.isClosed()) return;
    try {
      x.nc.publish(x.subject, encodeJson(report));
    } catch (err) {
      x.log.debug({ err }, 'could not publish a usage report');
    }
  }, USAGE_INTERVAL_MS);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      sub.unsubscribe();
    },
  };
}
