/**
 * The engine's metrics (README "Metrics"): how long a command takes from load to append, how it
 * ended, why it was rejected, and how often appends lost the optimistic-concurrency race.
 */
import { errorCodes, type ErrorCode } from '../lib/errors.js';
import { BoundCounter, boundedLabel, counter, histogram, OTHER } from '../lib/metrics.js';
import { commandSchemas, userCommandSchemas } from '../schemas/index.js';
import type { Outcome } from './command-handler.js';

const commandTypes = new Set<string>(Object.values({ ...commandSchemas, ...userCommandSchemas }).map((s) => s.properties.type.const));
const outcomes: readonly (Outcome | 'failed')[] = ['accepted', 'rejected', 'noop', 'duplicate', 'failed'];

const decideSeconds = histogram({
  name: 'parley_engine_decide_seconds',
  help: 'Time from taking a command to its events appended (or its rejection), by command type',
  labelNames: ['command'],
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
});
const commands = counter({ name: 'parley_engine_commands_total', help: 'Commands decided, by command type and outcome (accepted, rejected, noop, duplicate, failed)', labelNames: ['command', 'outcome'] });

/** Children bound once per (command type, outcome): a command costs two Map lookups. */
const timers = new Map<string, ReturnType<typeof decideSeconds.labels>>();
const counted = new Map<string, ReturnType<typeof commands.labels>>();
for (const command of [...commandTypes, OTHER]) {
  timers.set(command, decideSeconds.labels({ command }));
  for (const outcome of outcomes) counted.set(`${command} ${outcome}`, commands.labels({ command, outcome }));
}

/** One decided command: its type, how it ended, and how long it took (seconds). */
export function commandDecided(type: string, outcome: Outcome | 'failed', seconds: number): void {
  const command = boundedLabel(type, commandTypes);
  timers.get(command)!.observe(seconds);
  counted.get(`${command} ${outcome}`)?.inc();
}

export const rejections = new BoundCounter<ErrorCode>(
  counter({ name: 'parley_engine_rejections_total', help: 'Commands rejected, by error code', labelNames: ['code'] }),
  'code',
  Object.keys(errorCodes) as ErrorCode[],
);

/** An append that lost the race (someone wrote first): the state is caught up and the command decided again. */
export const appendConflicts = counter({ name: 'parley_engine_append_conflicts_total', help: 'Appends that lost the optimistic-concurrency race and were retried' });

/** A command given up after MAX_ATTEMPTS conflicts in a row (redelivered later). */
export const appendGaveUp = counter({ name: 'parley_engine_append_gave_up_total', help: 'Commands given up after too many concurrent-write conflicts in a row (redelivered later)' });
