// spec.enabled and spec.ingest.maxDuration end to end: real MediaMTX, the real sidecar (pod runner), ffmpeg publishing,
// the controller in this process. The pod runner holds ConfigMap changes back from the switched stream's pod (as
// kubelet does for up to a minute), so the switch-off is shown to work through the controller's push to the sidecar,
// not through auth.json.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodRunner } from '../../dev/pod-runner.ts';
import { ConditionType, EventReason, Reason } from '../../src/api/conditions.ts';
import type { LiveStream } from '../../src/api/livestream.ts';
import type { runController } from '../../src/controller/main.ts';
import { type KubeObject, resourcePath } from '../../src/kube/rest.ts';
import { createStream, inProcessController, streamPath, waitPhase } from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';
import { httpGet, type Publisher, publishRtmp } from '../support/media.ts';

const c = clients();
const kube = c.kube;
let ns: string;
let runner: PodRunner;
let ctl: Awaited<ReturnType<typeof runController>> | undefined;
const publishers: Publisher[] = [];

beforeAll(async () => {
  await installCrd(kube);
  ns = await freshNamespace(c.core, 'onoff');
  const logDir = mkdtempSync(join(tmpdir(), 'vstream-onoff-log-'));
  runner = new PodRunner(
    kube,
    mkdtempSync(join(tmpdir(), 'vstream-onoff-pods-')),
    pino({ level: 'info' }, pino.destination({ dest: join(logDir, 'runner.log'), sync: false })),
  );
  await runner.start();
  ctl = await inProcessController({
    probe: (n, name) => {
      const e = runner.endpoints(n, name);
      return e ? `http://127.0.0.1:${e.ports.api}` : undefined;
    },
    // The sidecar's ops port (/control, /recording) as the runner maps it.
    recordingLocator: (n, name) => {
      const e = runner.endpoints(n, name);
      return e ? `http://127.0.0.1:${e.ports['auth-metrics']}` : undefined;
    },
    liveResyncMs: 2000,
  });
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  await ctl?.shutdown();
  await runner?.stop();
});

async function publishToken(name: string): Promise<string> {
  const s = await kube.get<{ data: { token: string } }>(resourcePath('v1', 'Secret', ns, `${name}-publish`));
  return Buffer.from(s.data.token, 'base64').toString('utf8').split('\n')[0]!;
}

async function podUp(name: string) {
  const e = await waitUntil(`pod ${name} started`, async () => runner.endpoints(ns, name), 60_000);
  await waitUntil(
    `${name} auth ready`,
    async () => (await httpGet(`http://127.0.0.1:${e.ports['auth-metrics']}/readyz`)).status === 200,
    30_000,
  );
  await waitUntil(
    `${name} MediaMTX listening`,
    async () => (await httpGet(`http://127.0.0.1:${e.ports.metrics}/metrics`)).status === 200,
    30_000,
  );
  return e;
}

const ingest = (port: number, name: string, token: string) => `rtmp://127.0.0.1:${port}/live/${name}?token=${token}`;
const get = (name: string) => kube.get<LiveStream>(streamPath(ns, name));
const setSpec = (name: string, spec: Record<string, unknown>) => kube.mergePatch(streamPath(ns, name), { spec });

/** MediaMTX's own answer: is a publisher on the path now? (Through the API, with the stream's internal token.) */
async function onAir(name: string, apiPort: number): Promise<boolean> {
  const s = await kube.get<{ data: Record<string, string> }>(resourcePath('v1', 'Secret', ns, `${name}-internal`));
  const token = Buffer.from(s.data['api-token']!, 'base64').toString('utf8').trim();
  const r = await httpGet(`http://127.0.0.1:${apiPort}/v3/paths/get/live/${name}`, {
    authorization: `Bearer ${token}`,
  });
  return r.status === 200 && JSON.parse(r.body).online === true;
}

async function decisions(authPort: number, reason: string): Promise<number> {
  const m = await httpGet(`http://127.0.0.1:${authPort}/metrics`);
  const line = m.body
    .split('\n')
    .find((l) => l.startsWith('vstream_auth_decisions_total{') && l.includes(`reason="${reason}"`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('spec.enabled: false', () => {
  const name = 'sw';
  let e: Awaited<ReturnType<typeof podUp>>;
  let uids: Record<string, string | undefined>;

  it('kicks the live publisher within 2 s, through the sidecar, before kubelet would deliver auth.json', async () => {
    await createStream(kube, ns, name, {});
    await waitPhase(kube, ns, name, 'Ready', 90_000);
    e = await podUp(name);
    const pub = publishRtmp(ingest(e.ports.rtmp!, name, await publishToken(name)), 120);
    publishers.push(pub);
    await waitUntil('publisher on air', () => onAir(name, e.ports.api!), 30_000, 200);
    await waitUntil('status live', async () => (await get(name)).status?.live === true, 30_000);
    const objs = await Promise.all([
      kube.get(resourcePath('apps/v1', 'Deployment', ns, name)),
      kube.get(resourcePath('v1', 'Service', ns, name)),
      kube.get(resourcePath('v1', 'ConfigMap', ns, `${name}-mediamtx`)),
    ]);
    uids = Object.fromEntries(objs.map((o) => [o.kind, o.metadata.uid]));
    // Only the push can reach the pod from now on.
    runner.holdVolumeUpdates(ns, name, true);
    const t0 = performance.now();
    await setSpec(name, { enabled: false });
    const code = await Promise.race([pub.exited, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
    const ms = performance.now() - t0;
    console.log(`[onoff] switch-off to publisher gone: ${ms.toFixed(0)} ms (ffmpeg exit ${code})`);
    expect(code).not.toBe('timeout');
    expect(ms).toBeLessThan(2000);
    expect(await onAir(name, e.ports.api!)).toBe(false);
  });

  it('refuses a new publish while switched off (reason stream_disabled), says so in status, deletes nothing', async () => {
    const before = await decisions(e.ports['auth-metrics']!, 'stream_disabled');
    const again = publishRtmp(ingest(e.ports.rtmp!, name, await publishToken(name)), 10);
    publishers.push(again);
    expect(await again.exited).not.toBe(0);
    expect(await decisions(e.ports['auth-metrics']!, 'stream_disabled')).toBeGreaterThan(before);
    await waitPhase(kube, ns, name, 'Disabled', 30_000);
    // status.live follows at the next live poll (every 2 s here, 10 s by default).
    const ls = await waitUntil(
      'status not live',
      async () => {
        const s = await get(name);
        return s.status?.live === false && s;
      },
      15_000,
    );
    expect(ls.status?.phase).toBe('Disabled');
    expect(ls.status?.conditions?.find((x) => x.type === ConditionType.Ready)).toMatchObject({
      status: 'False',
      reason: Reason.Disabled,
    });
    // The same pod (MediaMTX never restarted), the same objects.
    expect(runner.endpoints(ns, name)?.pids.mediamtx).toBe(e.pids.mediamtx);
    for (const [kind, path] of [
      ['Deployment', resourcePath('apps/v1', 'Deployment', ns, name)],
      ['Service', resourcePath('v1', 'Service', ns, name)],
      ['ConfigMap', resourcePath('v1', 'ConfigMap', ns, `${name}-mediamtx`)],
    ] as const)
      expect((await kube.get(path)).metadata.uid, kind).toBe(uids[kind]);
  });

  it('switched back on: publishing is accepted again (still before auth.json reaches the pod)', async () => {
    await setSpec(name, { enabled: true });
    const pub = publishRtmp(ingest(e.ports.rtmp!, name, await publishToken(name)), 120);
    publishers.push(pub);
    await waitUntil(
      'publisher on air again',
      async () => {
        if (pub.proc.exitCode !== null) throw new Error(`publish refused after re-enable: ${pub.output()}`);
        return onAir(name, e.ports.api!);
      },
      15_000,
      200,
    );
    await waitPhase(kube, ns, name, 'Live', 30_000);
    runner.holdVolumeUpdates(ns, name, false);
    await pub.stop();
  });
});

describe('spec.ingest.maxDuration', () => {
  const name = 'cap';
  it('ends a publish session at the limit with an Event; the streamer may start a new session', async () => {
    await createStream(kube, ns, name, { ingest: { maxDuration: '4s' } });
    await waitPhase(kube, ns, name, 'Ready', 90_000);
    const e = await podUp(name);
    const pub = publishRtmp(ingest(e.ports.rtmp!, name, await publishToken(name)), 120);
    publishers.push(pub);
    await waitUntil('publisher on air', () => onAir(name, e.ports.api!), 30_000, 100);
    const online = performance.now();
    const code = await Promise.race([pub.exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
    const lasted = performance.now() - online;
    console.log(`[onoff] maxDuration 4s: session ended ${lasted.toFixed(0)} ms after it was seen online`);
    expect(code).not.toBe('timeout');
    expect(lasted).toBeGreaterThan(3000);
    expect(lasted).toBeLessThan(6000);
    const ev = await waitUntil(
      'MaxDurationReached event',
      async () => {
        const list = await kube.list(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
        return (list.items as (KubeObject & { reason?: string; note?: string; regarding?: { name?: string } })[]).find(
          (x) => x.reason === EventReason.MaxDurationReached && x.regarding?.name === name,
        );
      },
      20_000,
    );
    expect(ev.note).toContain('spec.ingest.maxDuration (4s)');
    // A new session is accepted at once.
    const next = publishRtmp(ingest(e.ports.rtmp!, name, await publishToken(name)), 120);
    publishers.push(next);
    await waitUntil('new session on air', () => onAir(name, e.ports.api!), 15_000, 200);
    await next.stop();
  });
});
