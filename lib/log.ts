import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger };

/** `json`: one JSON object a line, for machines (the default when not on a terminal). `pretty`: coloured lines for a person. */
export type LogFormat = 'json' | 'pretty';

/**
 * Fields that may carry what users wrote or what proves who they are: a log line says which
 * message (conversation id, user id, command id, log seq), never what it said or the token that
 * sent it. Censored at any of the first three levels, wherever a component put them.
 */
const SECRET_FIELDS = ['content', 'text', 'preview', 'token', 'authorization', 'password', 'secret', 'privateKey', 'p256dh', 'auth'];
export const REDACT_PATHS: readonly string[] = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);
export const REDACTED = '[redacted]';

/** PARLEY_LOG_FORMAT (json | pretty), else pretty exactly when the output is a terminal. */
export function logFormat(env: NodeJS.ProcessEnv, isTty: boolean): LogFormat {
  const v = env.PARLEY_LOG_FORMAT?.trim().toLowerCase();
  if (v === undefined || v === '') return isTty ? 'pretty' : 'json';
  if (v === 'json' || v === 'pretty') return v;
  throw new Error(`PARLEY_LOG_FORMAT must be json or pretty, got ${JSON.stringify(env.PARLEY_LOG_FORMAT)}`);
}

/** What every Parley logger shares: name, level, pid, and the redaction of content and secrets. */
export function loggerOptions(options: { level?: string; name?: string } = {}): LoggerOptions {
  return {
    name: options.name ?? 'parley',
    level: options.level ?? process.env.PARLEY_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
  };
}

/**
 * Where the lines go. Pretty is a stream in this thread, written synchronously (not a pino
 * transport, whose worker thread would have to be flushed and ended before exit): what was logged
 * before SIGTERM or process.exit() is on the terminal. JSON goes through sonic-boom asynchronously
 * (pino flushes it on exit).
 */
export function logDestination(format: LogFormat, fd: 1 | 2, colour: boolean): DestinationStream {
  if (format === 'pretty') {
    return PinoPretty({
      destination: fd,
      sync: true,
      colorize: colour,
      translateTime: 'SYS:HH:MM:ss.l',
      // "[12:32:35.021] INFO: [engine] lease acquired {"partition":2,"fence":3}": one line an entry
      // (a start-up logs dozens); an error's stack still follows on its own lines.
      messageFormat: '{if component}[{component}] {end}{msg}',
      singleLine: true,
      ignore: 'pid,hostname,name,component',
    });
  }
  return pino.destination({ fd, sync: false });
}

/** One root logger; components take a child with `{ component }` so every line says who spoke. */
export function createLogger(options: { level?: string; name?: string; fd?: 1 | 2; format?: LogFormat } = {}): Logger {
  const fd = options.fd ?? 1;
  const stream = fd === 1 ? process.stdout : process.stderr;
  const isTty = stream.isTTY === true;
  const format = options.format ?? logFormat(process.env, isTty);
  return pino(loggerOptions(options), logDestination(format, fd, isTty));
}
