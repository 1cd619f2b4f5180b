// Signed webhooks end to end: real MediaMTX and sidecar (local pod runner), ffmpeg publishing, two controller
// replicas with leader election in this process, and a receiver on 127.0.0.1 that checks every request with the
// snippet of docs/webhooks.md. Per publish session exactly one stream.live and one stream.offline, also when the
// leader goes away mid-session; a receiver that answers 500 first sees the retry and status says how it went.
// Delivery latency is measured from MediaMTX's own state change (its control API, asked every 50 ms by the test).
// The local pod runner only: the test runs both controllers itself (skipped on the real-node tier, which runs the
// chart's controller).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PodRunner } from '../../dev/pod-runner.ts';
import { ConditionType } from '../../src/api/conditions.ts';
import type { LiveStream } from '../../src/api/livestream.ts';
import type { runController } from '../../src/controller/main.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import { createStream, inProcessController, streamPath, waitPhase } from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';
import { httpGet, type Publisher, publishRtmp } from '../support/media.ts';
import { type Receiver, startReceiver } from '../support/webhook-receiver.ts';

const c = clients();
const kube = c.kube;
const local = !['existing', 'node'].includes(inject('clusterTier'));
const SECRET = 'e2e-webhook-signing-secret-0123456789';
/** The live loop's period in this test (the default is 10 s: bench/webhooks.ts measures that). */
const LIVE_RESYNC_MS = 2000;
let ns: string;
let runner: PodRunner;
let receiver: Receiver;
type Ctl = Awaited<ReturnType<typeof runController>>;
const controllers: Ctl[] = [];
const publishers: Publisher[] = [];
/** Delivery latencies from MediaMTX's state change, ms. */
export const latency = { live: [] as number[], offline: [] as number[] };

const log = (msg: string) => console.log(`[webhooks] ${msg}`);

const controller = (identity: string) =>
  inProcessController({
    probe: (n, name) => {
      const e = runner.endpoints(n, name);
      return e ? `http://127.0.0.1:${e.ports.api}` : undefined;
    },
    liveResyncMs: LIVE_RESYNC_MS,
    leaderElect: true,
    leaseNamespace: ns,
    identity,
    webhookDelivery: { baseDelayMs: 500 },
  });

beforeAll(async () => {
  if (!local) return;
  await installCrd(kube);
  ns = await freshNamespace(c.core, 'hook');
  await c.core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'hook' }, stringData: { secret: SECRET } },
  });
  receiver = await startReceiver(SECRET);
  const logDir = mkdtempSync(join(tmpdir(), 'vstream-hook-log-'));
  runner = new PodRunner(
    kube,
    mkdtempSync(join(tmpdir(), 'vstream-pods-')),
    pino({ level: 'info' }, pino.destination({ dest: join(logDir, 'runner.log'), sync: false })),
  );
  await runner.start();
  controllers.push(await controller('replica-a'));
  await waitUntil('replica-a leads', async () => controllers[0]!.isLeader(), 30_000);
  controllers.push(await controller('replica-b'));
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  for (const ctl of controllers) await ctl.shutdown().catch(() => undefined);
  await runner?.stop();
  await receiver?.close();
  if (latency.live.length) log(`latencies (ms): ${JSON.stringify(latency)}`);
});

async function streamUp(name: string, path: string) {
  await createStream(kube, ns, name, {
    webhooks: [{ url: `${receiver.url}/${path}?token=hidden`, secretRef: { name: 'hook' } }],
  });
  const ls = await waitPhase(kube, ns, name, 'Ready', 90_000);
  let e = await waitUntil(`pod ${name}`, async () => runner.endpoints(ns, name), 60_000);
  await waitUntil(
    `${name} MediaMTX listening`,
    async () => {
      // The pod as it runs now: one the runner restarted (a changed template) has new ports.
      e = runner.endpoints(ns, name) ?? e;
      return (await httpGet(`http://127.0.0.1:${e.ports.metrics}/metrics`)).status === 200;
    },
    // 30 s ran out once in a full CI run; the same wait as for the pod itself.
    60_000,
  );
  const secret = await kube.get<{ data: Record<string, string> }>(resourcePath('v1', 'Secret', ns, `${name}-internal`));
  const apiToken = Buffer.from(secret.data['api-token']!, 'base64').toString('utf8');
  const publishToken = Buffer.from(
    (await kube.get<{ data: Record<string, string> }>(resourcePath('v1', 'Secret', ns, `${name}-publish`))).data.token!,
    'base64',
  )
    .toString('utf8')
    .split('\n')[0]!;
  const ingest = `rtmp://127.0.0.1:${e.ports.rtmp}/${ls.status!.ingest!.rtmp!.server!.split('/').slice(3).join('/')}/${ls.status!.ingest!.rtmp!.streamKey}?token=${publishToken}`;
  // MediaMTX's own view of the path, asked every 50 ms: the reference for delivery latency.
  const online = async () => {
    const r = await fetch(`http://127.0.0.1:${e.ports.api}/v3/paths/get/${ls.status!.path}`, {
      headers: { authorization: `Bearer ${apiToken}` },
    });
    if (r.status === 404) return false;
    const b = (await r.json()) as { online?: boolean; ready?: boolean };
    return Boolean(b.online ?? b.ready);
  };
  const changedTo = async (want: boolean, timeoutMs = 30_000) =>
    waitUntil(`MediaMTX says online=${want}`, async () => (await online()) === want && Date.now(), timeoutMs, 50);
  return { ingest, changedTo };
}

const of = (path: string, type: string) =>
  receiver.received.filter((r) => r.path.startsWith(`/${path}`) && r.type === `io.vstream.${type}`);
const unique = (rs: { id: string }[]) => [...new Set(rs.map((r) => r.id))];
const status = async (name: string) => (await kube.get<LiveStream>(streamPath(ns, name))).status!;

describe.skipIf(!local)('signed webhooks (local pod runner, two controller replicas)', () => {
  let s: Awaited<ReturnType<typeof streamUp>>;

  it('one stream.live and one stream.offline per publish session, every signature verified', async () => {
    s = await streamUp('show', 'show');
    expect((await status('show')).conditions?.find((x) => x.type === ConditionType.WebhooksReady)?.status).toBe('True');
    for (let session = 1; session <= 2; session++) {
      const pub = publishRtmp(s.ingest, 60);
      publishers.push(pub);
      const up = await s.changedTo(true);
      await waitUntil(
        `session ${session}: stream.live`,
        async () => unique(of('show', 'stream.live')).length === session,
        30_000,
        20,
      );
      latency.live.push(of('show', 'stream.live').at(-1)!.at - up);
      await new Promise((r) => setTimeout(r, 3 * LIVE_RESYNC_MS)); // several polls while live: nothing more
      await pub.stop();
      const down = await s.changedTo(false);
      await waitUntil(
        `session ${session}: stream.offline`,
        async () => unique(of('show', 'stream.offline')).length === session,
        40_000,
        20,
      );
      latency.offline.push(of('show', 'stream.offline').at(-1)!.at - down);
      await new Promise((r) => setTimeout(r, 2 * LIVE_RESYNC_MS));
    }
    expect(receiver.rejected).toEqual([]);
    // Exactly once each: no retries were needed, so not even the same id twice.
    expect(of('show', 'stream.live')).toHaveLength(2);
    expect(of('show', 'stream.offline')).toHaveLength(2);
    const [l1, l2] = of('show', 'stream.live');
    const [o1, o2] = of('show', 'stream.offline');
    expect(o1!.data.sessionStart).toBe(l1!.data.sessionStart);
    expect(o2!.data.sessionStart).toBe(l2!.data.sessionStart);
    expect(l1!.subject).toBe(`${ns}/show`);
    await waitUntil('status says delivered', async () => {
      const w = (await status('show')).webhooks?.[0];
      return w?.lastResult === 'Delivered 204' && !w.pending && w;
    });
    const w = (await status('show')).webhooks![0]!;
    expect(w).toMatchObject({ url: `${receiver.url}/show`, consecutiveFailures: 0 });
    expect(w.lastEvent).toMatch(/^stream\.offline /);
    expect(JSON.stringify(await status('show'))).not.toContain('hidden');
  });

  it('across a leader failover mid-session: still exactly one stream.live and one stream.offline', async () => {
    const before = { live: of('show', 'stream.live').length, offline: of('show', 'stream.offline').length };
    const pub = publishRtmp(s.ingest, 90);
    publishers.push(pub);
    const up = await s.changedTo(true);
    await waitUntil('stream.live', async () => of('show', 'stream.live').length === before.live + 1, 30_000, 20);
    latency.live.push(of('show', 'stream.live').at(-1)!.at - up);
    const leader = controllers.find((x) => x.isLeader())!;
    const other = controllers.find((x) => x !== leader)!;
    await leader.shutdown(); // releases the Lease: the other replica takes over within its retry period
    controllers.splice(controllers.indexOf(leader), 1);
    await waitUntil('the other replica leads', async () => other.isLeader(), 30_000);
    await new Promise((r) => setTimeout(r, 3 * LIVE_RESYNC_MS)); // the new leader polls the live session
    log(`stream.live ids after the failover: ${JSON.stringify(of('show', 'stream.live').map((x) => x.id))}`);
    expect(unique(of('show', 'stream.live'))).toHaveLength(before.live + 1);
    expect(of('show', 'stream.live')).toHaveLength(before.live + 1);
    await pub.stop();
    const down = await s.changedTo(false);
    await waitUntil(
      'stream.offline',
      async () => of('show', 'stream.offline').length === before.offline + 1,
      40_000,
      20,
    );
    latency.offline.push(of('show', 'stream.offline').at(-1)!.at - down);
    // A replacement replica joins (as a restarted pod would): it follows, and sends nothing.
    controllers.push(await controller('replica-c'));
    await new Promise((r) => setTimeout(r, 3 * LIVE_RESYNC_MS));
    expect(of('show', 'stream.live')).toHaveLength(before.live + 1);
    expect(of('show', 'stream.offline')).toHaveLength(before.offline + 1);
    expect(of('show', 'stream.offline').at(-1)!.data.sessionStart).toBe(
      of('show', 'stream.live').at(-1)!.data.sessionStart,
    );
    expect(receiver.rejected).toEqual([]);
  });

  it('a receiver that answers 500, then 204: the retry (same id) delivers, and status and metrics say so', async () => {
    const r = await streamUp('flaky', 'flaky');
    receiver.failNext('/flaky?token=hidden', [500]);
    const pub = publishRtmp(r.ingest, 60);
    publishers.push(pub);
    await r.changedTo(true);
    await waitUntil('retried stream.live', async () => of('flaky', 'stream.live').length === 2, 30_000, 20);
    const [first, second] = of('flaky', 'stream.live');
    expect([first!.answered, second!.answered]).toEqual([500, 204]);
    expect(second!.id).toBe(first!.id);
    await waitUntil('status says delivered', async () => {
      const w = (await status('flaky')).webhooks?.[0];
      return w?.lastResult === 'Delivered 204' && !w.pending && w;
    });
    const leader = controllers.find((x) => x.isLeader())!;
    const metrics = await leader.registry.metrics();
    expect(metrics).toMatch(/vstream_webhook_deliveries_total\{result="failed"\} [1-9]/);
    expect(metrics).toMatch(/vstream_webhook_deliveries_total\{result="delivered"\} [1-9]/);
    expect(metrics).toContain('vstream_webhook_queue_depth 0');
    await pub.stop();
  });
});
