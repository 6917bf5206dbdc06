/**
 * Runs one role of Parley in its own process from PARLEY_* variables, for tests that kill and
 * restart processes. Prints "ready [<gateway url>] [ops=<ops server url>]" on stdout once started
 * (processes.ts reads it); stops cleanly on SIGTERM.
 */
import { loadConfig } from '../../lib/config.js';
import { createLogger } from '../../lib/log.js';
import { startRoles, type Role } from '../../app/roles.js';

const role = (process.argv[2] ?? 'all') as Role;
const config = loadConfig(process.env);
const log = createLogger({ level: config.logLevel, fd: 2 }); // stdout carries the ready line
const running = await startRoles(role, config, log);
const gatewayUrl = running.gateway ? ` ${running.gateway.url}` : '';
const opsUrl = running.ops ? ` ops=${running.ops.url}` : '';
process.stdout.write(`ready${gatewayUrl}${opsUrl}\n`);
process.once('SIGTERM', () => {
  void running.stop().then(() => process.exit(0));
});
