/**
 * `parley <command> [options]`. Each command lives in its own module, loaded only when it runs, so
 * `parley token` does not pay for the gateway and NATS clients. A module parses its own arguments
 * (node:util parseArgs, strict) and returns the exit code; usage mistakes exit 2.
 */
import { parseArgs } from 'node:util';

/** What a command may ask of the CLI: report a usage mistake (message, usage, exit code 2). */
export type Cli = { usageError(message: string): never };

export type CommandModule = { usage: string; run(args: string[], cli: Cli): Promise<number> };

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  start: { summary: 'Run Parley: gateway, engine and delivery projector (or one --role)', load: () => import('./start.js') },
  token: { summary: 'Print a development JWT (HS256) for a user', load: () => import('./token.js') },
  demo: { summary: 'Two users chat over WebSockets, then a latency/throughput round trip', load: () => import('./demo.js') },
  replay: { summary: "Print a conversation's events as logged (table, JSON or JSON Lines)", load: () => import('./replay.js') },
  export: { summary: 'Write the whole event log to a JSON Lines file (or stdout), in log order', load: () => import('./export.js') },
  projections: {
    summary: 'Projector positions, lag and parked events (status); rebuild the read models (rebuild); apply parked events again (retry-parked)',
    load: () => import('./projections.js'),
  },
  partitions: { summary: 'Which engine holds each command partition, and the commands waiting in it', load: () => import('./partitions.js') },
  help: { summary: 'Show help for a command', load: async () => helpCommand },
};

const usage = `Usage: parley <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`)
  .join('\n')}

Run \`parley <command> --help\` for a command's options.
Configuration comes from PARLEY_* environment variables (see lib/config.ts).
`;

class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

const helpCommand: CommandModule = {
  usage: 'Usage: parley help [command]\n',
  async run(args: string[], cli: Cli) {
    const { positionals } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    if (positionals.length > 1) cli.usageError('help takes at most one command');
    const name = positionals[0];
    if (name === undefined) {
      process.stdout.write(usage);
      return 0;
    }
    const command = commands[name];
    if (!command) cli.usageError(`unknown command ${JSON.stringify(name)}`);
    process.stdout.write((await command.load()).usage);
    return 0;
  },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`parley: no command given\n\n${usage}`);
    return 2;
  }
  if (name === '--help' || name === '-h') {
    process.stdout.write(usage);
    return 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(`parley: unknown command ${JSON.stringify(name)}\n\n${usage}`);
    return 2;
  }
  const module = await command.load();
  const cli: Cli = {
    usageError(message) {
      throw new UsageError(message, module.usage);
    },
  };
  try {
    return await module.run(rest, cli);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_'))) {
      process.stderr.write(`parley ${name}: ${(err as Error).message}\n\n${module.usage}`);
      return 2;
    }
    throw err;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`parley: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
}
// Commands clean up after themselves; exit anyway so a stray handle cannot keep the process alive.
process.exit();
