#!/usr/bin/env -S node --max-semi-space-size=32
// The `parley` command: register tsx so the TypeScript sources run as they are, then hand over.
// The entry point is resolved against this file, so `npx parley` works from any directory.
//
// --max-semi-space-size=32 (also in package.json's scripts, the Dockerfile and the bench's role
// processes): every Parley process allocates a few short-lived objects per message (frames,
// decoded JSON, promises), and V8's default young generation (16 MB semi-spaces) promoted enough
// of them to make GC 10-15 % of each process. At 32 MB, bench load 1:1 at 2,000 msg/s, median
// of 3: CPU per message 720 -> 682 us in all (engine 111 -> 106, projector 159 -> 145, gateway
// 136 -> 126), p99 send->message.new 48 -> 37 ms, no more memory (RSS max per process alike).
import { register } from 'tsx/esm/api';

register();
await import(new URL('../cli/main.ts', import.meta.url).href);
