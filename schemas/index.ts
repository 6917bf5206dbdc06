export * from './common.js';
export * from './events.js';
export * from './commands.js';
export * from './client-frames.js';
export * from './server-frames.js';
export * from './inbox-entry.js';
export * from './validators.js';
export * from './presence-notices.js';
