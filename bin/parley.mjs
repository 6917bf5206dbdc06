#!/usr/bin/env node
// The `parley` command: register tsx so the TypeScript sources run as they are, then hand over.
// The entry point is resolved against this file, so `npx parley` works from any directory.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../cli/main.ts', import.meta.url).href);
