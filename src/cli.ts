#!/usr/bin/env node
// The single `vstream` entry point. `vstream auth` is the auth sidecar of every stream pod and runs as two processes
// (src/auth/supervisor.ts): this file starts its supervisor before any other module loads, so the supervisor holds
// Node's own modules and nothing else. Everything else, the sidecar's worker included, is src/cli-main.ts.
const args = process.argv.slice(2);
const supervisor =
  args[0] === 'auth' && !args.some((a) => ['--worker', '--single-process', '--help', '-h'].includes(a));
await import(supervisor ? './auth/supervisor-main.ts' : './cli-main.ts');

export {};
