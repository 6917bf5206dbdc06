import { pino, type Logger } from 'pino';

export type { Logger };

/** One root logger; components take a child with `{ component }` so every line says who spoke. */
export function createLogger(options: { level?: string; name?: string; fd?: 1 | 2 } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'parley',
      level: options.level ?? process.env.PARLEY_LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
    },
    pino.destination({ fd: options.fd ?? 1, sync: false }),
  );
}
