// The auth sidecar's worker killed (kill -9, as the kernel's OOM killer does) while a streamer reconnects: MediaMTX
// 1.20.1 counts a hook that does not answer as a failed authentication (internal/auth/manager.go authenticateHTTP:
// "HTTP request failed") and RTMP then answers NetStream.Publish.Unauthorized, after which OBS stops retrying. A
// streamer with a valid token must never be told Unauthorized because of the sidecar: the supervisor
// (src/auth/supervisor.ts) holds the hook socket and the reconnect's hook call waits for the next worker. Every
// failed authentication MediaMTX logs during the sequence ("failed to authenticate", auth.Error) is counted.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodRunner } from '../../dev/pod-runner.ts';
import type { runController } from '../../src/controller/main.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import { createStream, inProcessController, waitPhase } from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';
import { httpGet, type Publisher, publishRtmp } from '../support/media.ts';
import { childPids } from '../support/process.ts';

const c = clients();
const kube = c.kube;
let ns: string;
let runner: PodRunner;
let ctl: Awaited<ReturnType<typeof runController>> | undefined;
const publishers: Publisher[] = [];

beforeAll(async () => {
  await installCrd(kube);
  ns = await freshNamespace(c.core, 'sidecar');
  runner = new PodRunner(
    kube,
    mkdtempSync(join(tmpdir(), 'vstream-sidecar-pods-')),
    pino({ level: 'info' }, pino.destination({ dest: join(mkdtempSync(join(tmpdir(), 'vstream-sc-')), 'r.log') })),
  );
  await runner.start();
  ctl = await inProcessController({
    probe: (n, name) => {
      const e = runner.endpoints(n, name);
      return e ? `http://127.0.0.1:${e.ports.api}` : undefined;
    },
    liveResyncMs: 2000,
  });
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  await ctl?.shutdown();
  await runner?.stop();
});

async function onAir(name: string, apiPort: number): Promise<boolean> {
  const s = await kube.get<{ data: Record<string, string> }>(resourcePath('v1', 'Secret', ns, `${name}-internal`));
  const token = Buffer.from(s.data['api-token']!, 'base64').toString('utf8').trim();
  const r = await httpGet(`http://127.0.0.1:${apiPort}/v3/paths/get/live/${name}`, {
    authorization: `Bearer ${token}`,
  }).catch(() => ({ status: 0, body: '' }));
  return r.status === 200 && JSON.parse(r.body).online === true;
}

const authFailures = (log: string) => log.split('\n').filter((l) => /failed to authenticate/i.test(l));

/** The worker: the supervisor's only child. */
const workerOf = (pid: number): number | undefined => childPids(pid)[0];

/** What the kill-and-reconnect sequence saw, for the two tests below. */
describe('auth sidecar worker killed while a streamer reconnects', () => {
  it('is restarted at once, the streamer is back on air with its token, and nothing was refused', async () => {
    const name = 'rs';
    await createStream(kube, ns, name, {});
    await waitPhase(kube, ns, name, 'Ready', 90_000);
    const e = await waitUntil('pod started', async () => runner.endpoints(ns, name), 60_000);
    await waitUntil(
      'auth ready',
      async () => (await httpGet(`http://127.0.0.1:${e.ports['auth-metrics']}/readyz`)).status === 200,
      30_000,
    );
    const s = await kube.get<{ data: { token: string } }>(resourcePath('v1', 'Secret', ns, `${name}-publish`));
    const token = Buffer.from(s.data.token, 'base64').toString('utf8').split('\n')[0]!;
    const url = `rtmp://127.0.0.1:${e.ports.rtmp}/live/${name}?token=${token}`;
    let pub = publishRtmp(url, 120);
    publishers.push(pub);
    await waitUntil('on air', () => onAir(name, e.ports.api!), 30_000, 200);
    const mediamtxLog = join(e.dir, 'logs', 'mediamtx.log');
    const before = authFailures(readFileSync(mediamtxLog, 'utf8')).length;

    // The blip: the sidecar is killed and the streamer's connection drops at the same moment; the streamer
    // reconnects at once and keeps retrying (as OBS does until it is told Unauthorized) until it is on air again.
    const supervisor = e.pids.auth!;
    const oldPid = await waitUntil('the worker', async () => workerOf(supervisor), 10_000);
    const t0 = performance.now();
    process.kill(oldPid, 'SIGKILL');
    pub.proc.kill('SIGKILL');
    let attempts = 0;
    let back = false;
    while (!back && performance.now() - t0 < 30_000) {
      attempts++;
      pub = publishRtmp(url, 120);
      publishers.push(pub);
      const deadline = performance.now() + 3000;
      while (performance.now() < deadline && pub.proc.exitCode === null && !back) {
        back = await onAir(name, e.ports.api!);
        if (!back) await new Promise((r) => setTimeout(r, 100));
      }
    }
    const took = performance.now() - t0;
    const failures = authFailures(readFileSync(mediamtxLog, 'utf8')).slice(before);
    console.log(
      `[sidecar-restart] back on air after ${took.toFixed(0)} ms, ${attempts} attempt(s); worker pid ${oldPid} -> ${workerOf(supervisor)}; MediaMTX auth failures: ${failures.length}${failures.length ? `\n  ${failures.slice(0, 3).join('\n  ')}` : ''}`,
    );
    expect(back).toBe(true);
    expect(runner.endpoints(ns, name)?.pids.auth).toBe(supervisor); // the container did not restart
    expect(workerOf(supervisor)).not.toBe(oldPid);
    // Neither "HTTP request failed" (the hook unreachable) nor a refusal by the new worker (path_busy for its own
    // reconnecting streamer: it recognises the publisher from MediaMTX's API).
    expect(failures).toEqual([]);
  });
});
