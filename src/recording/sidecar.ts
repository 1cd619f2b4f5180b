// The recording part of the auth sidecar: the retention runner and its GET /recording status on the ops server.
// src/auth/main.ts imports this module dynamically, only when auth.json has a `recording` section.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AuthConfig } from '../auth/contract.ts';
import { RecordingRunner } from './runner.ts';

export const RECORDING_STATUS_PATH = '/recording';

export function attachRecording(opts: {
  config: () => AuthConfig;
  api: string;
  registry: Registry;
  log: Logger;
  /** The sidecar's ops server (metrics, health), before it listens. */
  ops: FastifyInstance;
  intervalMs?: number;
}): { runner: RecordingRunner; stop: () => void } {
  const runner = new RecordingRunner(opts);
  // Sizes and times only: nothing in it is secret, so it sits next to /metrics.
  opts.ops.get(RECORDING_STATUS_PATH, async () => runner.status());
  runner.start();
  return { runner, stop: () => runner.stop() };
}
