// Webhook delivery latency from MediaMTX's own state change, beside the baseline of the same transition reaching
// the Kubernetes API (status.live as a watch sees it: the best an app that watches LiveStreams could do without
// webhooks). Real MediaMTX + sidecar (the local pod runner), ffmpeg publishing, the controller in this process with
// the default live poll (10 s) unless --resync says otherwise, a receiver on 127.0.0.1 that verifies every
// signature with the snippet of docs/webhooks.md. Writes bench/results/webhooks.json.
//   npm run bench:webhooks [-- --sessions 10 --resync 10000]
//
// Per session: ffmpeg publishes for 3–8 s (random, so sessions start at random points of the poll cycle), then
// stops. t0 = when MediaMTX's control API (asked every 50 ms) first says online (offline); latency = receipt at the
// receiver - t0. stream.offline includes the reconnect grace period (10 s) by design.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startCluster } from '../dev/cluster.ts';
import { PodRunner } from '../dev/pod-runner.ts';
import { liveStreamCrd } from '../src/api/crd.ts';
import { API_VERSION, type LiveStream } from '../src/api/livestream.ts';
import { Informer } from '../src/controller/informer.ts';
import { runController } from '../src/controller/main.ts';
import { Kube, type KubeObject, resourcePath } from '../src/kube/rest.ts';
import { publishRtmp } from '../test/support/media.ts';
import { waitUntil } from '../test/support/wait.ts';
import { startReceiver } from '../test/support/webhook-receiver.ts';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '10' },
    resync: { type: 'string', default: '10000' },
    out: { type: 'string', default: join(import.meta.dirname, 'results', 'webhooks.json') },
  },
});
const SESSIONS = Number(values.sessions);
const RESYNC = Number(values.resync);
const log = (m: string) => console.error(`[bench:webhooks] ${m}`);
const quiet = pino(
  { level: 'warn' },
  pino.destination({ dest: join(mkdtempSync(join(tmpdir(), 'vs-bh-')), 'log'), sync: false }),
);

const cluster = await startCluster({ tier: 'full' });
const kube = await Kube.load(cluster.kubeconfig);
const NS = 'hooks';
const SECRET = 'bench-webhook-signing-secret-0123456789';
const runner = new PodRunner(kube, mkdtempSync(join(tmpdir(), 'vs-bh-pods-')), quiet);
const receiver = await startReceiver(SECRET);
let ctl: Awaited<ReturnType<typeof runController>> | undefined;
try {
  await kube.apply(liveStreamCrd() as unknown as KubeObject, 'bench');
  await waitUntil('CRD established', async () =>
    kube
      .get<{ status?: { conditions?: { type: string; status: string }[] } }>(
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/livestreams.vstream.io',
      )
      .then((c) => c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True')),
  );
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } as KubeObject);
  await kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'hook', namespace: NS },
    stringData: { secret: SECRET },
  } as unknown as KubeObject);
  await runner.start();
  ctl = await runController({
    kubeconfig: cluster.kubeconfig,
    sidecarImage: 'ghcr.io/vstream/vstream:bench',
    metricsAddr: '127.0.0.1:0',
    probe: (n, name) => {
      const e = runner.endpoints(n, name);
      return e ? `http://127.0.0.1:${e.ports.api}` : undefined;
    },
    liveResyncMs: RESYNC,
    log: quiet,
  });
  await kube.create({
    apiVersion: API_VERSION,
    kind: 'LiveStream',
    metadata: { name: 'bench', namespace: NS },
    spec: { webhooks: [{ url: `${receiver.url}/hook`, secretRef: { name: 'hook' } }] },
  } as unknown as KubeObject);
  // The baseline: status.live as a watch sees it.
  const flips: { live: boolean; at: number }[] = [];
  const watch = new Informer(kube, { name: 'bench', path: `/apis/${API_VERSION}/namespaces/${NS}/livestreams` }, quiet);
  watch.on((_t, o, old) => {
    const now = (o as unknown as LiveStream).status?.live ?? false;
    const was = (old as unknown as LiveStream | undefined)?.status?.live ?? false;
    if (now !== was) flips.push({ live: now, at: Date.now() });
  });
  watch.start();
  await waitUntil(
    'stream Ready',
    async () =>
      (await kube.get<LiveStream>(`/apis/${API_VERSION}/namespaces/${NS}/livestreams/bench`)).status?.phase === 'Ready',
    120_000,
  );
  const e = await waitUntil('pod', async () => runner.endpoints(NS, 'bench'), 60_000);
  const ls = await kube.get<LiveStream>(`/apis/${API_VERSION}/namespaces/${NS}/livestreams/bench`);
  const secret = async (name: string, key: string) =>
    Buffer.from(
      (await kube.get<{ data: Record<string, string> }>(resourcePath('v1', 'Secret', NS, name))).data[key]!,
      'base64',
    )
      .toString('utf8')
      .split('\n')[0]!;
  const apiToken = await secret('bench-internal', 'api-token');
  const token = await secret('bench-publish', 'token');
  const ingest = `rtmp://127.0.0.1:${e.ports.rtmp}/live/bench?token=${token}`;
  const online = async () => {
    const r = await fetch(`http://127.0.0.1:${e.ports.api}/v3/paths/get/${ls.status!.path}`, {
      headers: { authorization: `Bearer ${apiToken}` },
    });
    if (r.status === 404) return false;
    const b = (await r.json()) as { online?: boolean; ready?: boolean };
    return Boolean(b.online ?? b.ready);
  };
  const changedTo = (want: boolean) =>
    waitUntil(`MediaMTX online=${want}`, async () => (await online()) === want && Date.now(), 30_000, 50);
  const hooks = (type: string) => receiver.received.filter((r) => r.type === `io.vstream.${type}`);

  const samples = {
    webhook: { live: [] as number[], offline: [] as number[] },
    status: { live: [] as number[], offline: [] as number[] },
  };
  for (let s = 1; s <= SESSIONS; s++) {
    const pub = publishRtmp(ingest, 60);
    const up = await changedTo(true);
    await waitUntil('stream.live', async () => hooks('stream.live').length === s, 60_000, 10);
    samples.webhook.live.push(hooks('stream.live').at(-1)!.at - up);
    samples.status.live.push(flips.filter((f) => f.live).at(-1)!.at - up);
    await new Promise((r) => setTimeout(r, 3000 + Math.random() * 5000));
    await pub.stop();
    const down = await changedTo(false);
    await waitUntil('stream.offline', async () => hooks('stream.offline').length === s, 60_000, 10);
    samples.webhook.offline.push(hooks('stream.offline').at(-1)!.at - down);
    await waitUntil('status offline', async () => flips.filter((f) => !f.live).length === s, 10_000, 10);
    samples.status.offline.push(flips.filter((f) => !f.live).at(-1)!.at - down);
    log(
      `session ${s}: live ${samples.webhook.live.at(-1)} ms (status ${samples.status.live.at(-1)} ms), offline ${samples.webhook.offline.at(-1)} ms (status ${samples.status.offline.at(-1)} ms)`,
    );
    await new Promise((r) => setTimeout(r, 1000 + Math.random() * 2000));
  }
  watch.stop();
  const pct = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
  };
  const summary = (xs: number[]) => ({
    p50_ms: pct(xs, 50),
    p99_ms: pct(xs, 99),
    min_ms: Math.min(...xs),
    max_ms: Math.max(...xs),
  });
  const result = {
    benchmark: 'webhooks',
    date: new Date().toISOString(),
    sessions: SESSIONS,
    live_poll_ms: RESYNC,
    live_grace_ms: 10_000,
    note: `Latency from MediaMTX's state change (its control API asked every 50 ms) to the signed request at a receiver on 127.0.0.1, one stream, ${SESSIONS} sessions (so p99 is the worst of ${SESSIONS}). Baseline: the same transition in status.live as a watch sees it. stream.offline waits out the 10 s reconnect grace by design.`,
    webhook: { live: summary(samples.webhook.live), offline: summary(samples.webhook.offline) },
    baseline_status_watch: { live: summary(samples.status.live), offline: summary(samples.status.offline) },
    ratio_webhook_to_status_p50: {
      live: +(pct(samples.webhook.live, 50) / pct(samples.status.live, 50)).toFixed(3),
      offline: +(pct(samples.webhook.offline, 50) / pct(samples.status.offline, 50)).toFixed(3),
    },
    rejected_signatures: receiver.rejected.length,
    duplicates: receiver.received.length - new Set(receiver.received.map((r) => r.id)).size,
    samples,
  };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await ctl?.shutdown();
  await runner.stop();
  await receiver.close();
  await cluster.stop();
}
