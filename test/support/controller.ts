// Runs the controller against the test cluster: in this process (to count its writes and read its logs), or as
// a `vstream controller` child process (to SIGKILL it, or to run two replicas).
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { inject } from 'vitest';
import { freePort } from '../../dev/cluster.ts';
import { REPO_ROOT } from '../../dev/tools.ts';
import { API_VERSION, type LiveStream } from '../../src/api/livestream.ts';
import { runController } from '../../src/controller/main.ts';
import { type Kube, resourcePath } from '../../src/kube/rest.ts';
import { waitUntil } from './kube.ts';

export const logLines: string[] = [];

export async function inProcessController(extra: Partial<Parameters<typeof runController>[0]> = {}) {
  const log = pino({ level: 'debug' }, { write: (l: string) => void logLines.push(l) });
  return runController({
    kubeconfig: inject('kubeconfig'),
    sidecarImage: 'ghcr.io/vstream/vstream:test',
    metricsAddr: `127.0.0.1:${await freePort()}`,
    probe: 'off',
    log,
    ...extra,
  });
}

export interface ChildController {
  proc: ChildProcess;
  metrics: string;
  logFile: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function childController(args: string[] = []): Promise<ChildController> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'vstream-ctl-'));
  const logFile = join(dir, 'controller.log');
  const out = createWriteStream(logFile);
  const proc = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'src/cli.ts'),
      'controller',
      '--kubeconfig',
      inject('kubeconfig'),
      '--metrics-addr',
      `127.0.0.1:${port}`,
      '--probe',
      'off',
      ...args,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, VSTREAM_SIDECAR_IMAGE: 'ghcr.io/vstream/vstream:test' },
    },
  );
  proc.stdout?.pipe(out);
  proc.stderr?.pipe(out);
  const exited = new Promise((r) => proc.once('exit', r));
  return {
    proc,
    metrics: `http://127.0.0.1:${port}`,
    logFile,
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

export const streamPath = (ns: string, name = '') => resourcePath(API_VERSION, 'LiveStream', ns, name || undefined);

export async function createStream(kube: Kube, ns: string, name: string, spec: Record<string, unknown> = {}) {
  return kube.create<LiveStream>({
    apiVersion: API_VERSION,
    kind: 'LiveStream',
    metadata: { name, namespace: ns },
    spec,
  });
}

export async function waitPhase(kube: Kube, ns: string, name: string, phase: string | string[], timeoutMs = 60_000) {
  const phases = Array.isArray(phase) ? phase : [phase];
  return waitUntil(
    `${ns}/${name} phase ${phases.join('|')}`,
    async () => {
      const ls = await kube.get<LiveStream>(streamPath(ns, name));
      return phases.includes(ls.status?.phase ?? '') && ls.status?.observedGeneration === ls.metadata.generation && ls;
    },
    timeoutMs,
  );
}
