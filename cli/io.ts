import { pino } from 'pino';
import { loggerOptions, type Logger } from '../lib/log.js';

/**
 * What a command that writes data (`parley export`, `parley replay`) needs of its process: where it
 * writes, the environment it reads, how it reports a usage mistake, where its logs go.
 */

export type Output = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Where a command writes and what environment it reads: the process's, or a test's. */
export type CliIo = { stdout: Output; stderr: Output; env: Record<string, string | undefined> };

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** Print a usage mistake the way cli/main.ts does and return exit code 2. */
export function usageError(io: CliIo, command: string, message: string, usageText: string): number {
  io.stderr.write(`parley ${command}: ${message}\n\n${usageText}`);
  return 2;
}

/** Run parseArgs; a parse error becomes a usage error (exit 2) like cli/main.ts would report it. */
export function parseOrUsage<T>(io: CliIo, command: string, usageText: string, parse: () => T): T | number {
  try {
    return parse();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) return usageError(io, command, (err as Error).message, usageText);
    throw err;
  }
}

/** A logger for CLI commands: stderr (stdout carries the data), warnings and worse by default. */
export function cliLogger(io: CliIo): Logger {
  return pino(loggerOptions({ level: io.env.PARLEY_LOG_LEVEL ?? 'warn' }), io.stderr as unknown as pino.DestinationStream);
}
