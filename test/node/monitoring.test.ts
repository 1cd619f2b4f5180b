// Monitoring proven on real pods: a real Prometheus scrapes the chart's controller pods (as its ServiceMonitor would,
// labels honoured) and a real stream pod's MediaMTX and auth sidecar (through the PodMonitor's relabelling), while
// ffmpeg publishes and a viewer plays; it evaluates the chart's PrometheusRule. Then every query of the chart's
// Grafana dashboard returns data, every rule evaluates without error, the not-Ready alert fires for a broken stream
// from the controller's condition gauge, a stream that ends normally does not alert as dropped, and nothing stored
// from the stream pod carries a client address or a connection id although MediaMTX exported them.
//
// Prometheus runs on the host (127.0.0.1) and reaches the pods through the node relays; the targets are static or
// file-SD with the labels Kubernetes service discovery would give them. Intervals are 1s so the run stays short.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AUTH_METRICS_PORT, MEDIAMTX_METRICS_PORT } from '../../src/render/ports.ts';
import { CHART_NAMESPACE } from '../setup/cluster.ts';
import { createStream, waitPhase } from '../support/controller.ts';
import { clusterIP, type Ingest, publishWhenReady } from '../support/ingest.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';
import { httpGet, publishRtmp, waitPlayable } from '../support/media.ts';
import { nodeForward } from '../support/node.ts';
import {
  dashboard,
  fillDashboardVars,
  type Obj,
  type Prometheus,
  podMonitorJob,
  renderChart,
  ruleFile,
  startPrometheus,
  writeTargets,
} from '../support/prometheus.ts';

const c = clients();
const kube = c.kube;
const dir = mkdtempSync(join(tmpdir(), 'vstream-node-prometheus-'));
const STREAM = 'watched';
const BROKEN = 'broken';
let ns = '';
let prom: Prometheus;
let ingest: Ingest | undefined;
let viewer: ChildProcess | undefined;
let rawMediamtx = '';

interface Pod {
  metadata: { name: string };
  status: { podIP: string };
}
const podsOf = async (namespace: string, labelSelector: string) =>
  (await kube.list(`/api/v1/namespaces/${namespace}/pods`, { labelSelector })).items as unknown as Pod[];

beforeAll(async () => {
  const started = Date.now();
  ns = await freshNamespace(c.core, 'mon');
  const docs = renderChart(
    'metrics.serviceMonitor.enabled=true',
    'metrics.podMonitor.enabled=true',
    'prometheusRule.enabled=true',
    'metrics.serviceMonitor.interval=1s',
    'metrics.serviceMonitor.scrapeTimeout=1s',
    'metrics.podMonitor.interval=1s',
    'metrics.podMonitor.scrapeTimeout=1s',
    'metrics.podMonitor.authInterval=1s',
    'metrics.podMonitor.authScrapeTimeout=1s',
    'prometheusRule.droppedGracePeriod=5s',
    'prometheusRule.notReadyFor=5s',
  );
  writeFileSync(join(dir, 'rules.yaml'), ruleFile(docs));
  const sm = docs.find((d) => d.kind === 'ServiceMonitor')!.spec.endpoints[0];
  const [mediamtx, auth] = docs.find((d) => d.kind === 'PodMonitor')!.spec.podMetricsEndpoints;

  // The controller pods of the chart the setup installed, as its ServiceMonitor selects them (job = the Service).
  const controllers = await podsOf(CHART_NAMESPACE, 'app.kubernetes.io/name=vstream');
  expect(controllers.length).toBe(2);
  const controllerTargets = [];
  for (const p of controllers)
    controllerTargets.push({
      targets: [`127.0.0.1:${await nodeForward(p.status.podIP, 8080)}`],
      labels: { namespace: CHART_NAMESPACE, pod: p.metadata.name, service: 'vstream-metrics' },
    });
  const files = { mediamtx: join(dir, 'mediamtx.json'), auth: join(dir, 'auth.json') };
  writeTargets(files.mediamtx, []);
  writeTargets(files.auth, []);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: ['rules.yaml'],
      scrape_configs: [
        {
          job_name: 'vstream-metrics',
          scrape_interval: sm.interval,
          scrape_timeout: sm.scrapeTimeout,
          metrics_path: sm.path,
          honor_labels: sm.honorLabels,
          static_configs: controllerTargets,
        },
        podMonitorJob(mediamtx, 'podMonitor/vstream-system/vstream-streams/0', { file: files.mediamtx }),
        podMonitorJob(auth, 'podMonitor/vstream-system/vstream-streams/1', { file: files.auth }),
      ],
    }),
  );
  // Started before the streams exist, so the controller's reconciles of them fall inside the rate windows.
  prom = await startPrometheus(dir);

  await createStream(kube, ns, STREAM, { playback: { protocols: ['hls', 'rtsp'] } });
  await createStream(kube, ns, BROKEN, { ingest: { publishTokenSecretRef: { name: 'nobody-made-this' } } });
  await waitPhase(kube, ns, STREAM, 'Ready', 180_000);
  const [pod] = await podsOf(ns, `vstream.io/livestream=${STREAM}`);
  // What Kubernetes service discovery says about the stream pod (the PodMonitor's relabelings read these).
  const meta = {
    __meta_kubernetes_namespace: ns,
    __meta_kubernetes_pod_name: pod!.metadata.name,
    __meta_kubernetes_pod_label_vstream_io_livestream: STREAM,
  };
  const mediamtxPort = await nodeForward(pod!.status.podIP, MEDIAMTX_METRICS_PORT);
  writeTargets(files.mediamtx, [{ targets: [`127.0.0.1:${mediamtxPort}`], labels: meta }]);
  writeTargets(files.auth, [
    { targets: [`127.0.0.1:${await nodeForward(pod!.status.podIP, AUTH_METRICS_PORT)}`], labels: meta },
  ]);

  // A streamer: ffmpeg over RTMP with the generated token. A second one with a wrong token is denied.
  ingest = await publishWhenReady(kube, nodeForward, ns, STREAM, {
    since: Date.now(),
    timeoutMs: 60_000,
    seconds: 300,
  });
  const denied = publishRtmp(ingest.url.replace(/token=[^&]+/, 'token=wrong-token-0123456789abcdef'), 5);
  expect(await denied.exited).not.toBe(0);
  // A viewer: ffmpeg reading RTSP (TCP) through the Service for as long as the stream runs, and HLS played.
  const rtsp = await nodeForward(await clusterIP(kube, ns, STREAM), 8554);
  viewer = spawn(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-rtsp_transport',
      'tcp',
      '-i',
      `rtsp://127.0.0.1:${rtsp}/${ingest.path}`,
      '-c',
      'copy',
      '-f',
      'null',
      '-',
    ],
    { stdio: 'ignore' },
  );
  const hls = await nodeForward(await clusterIP(kube, ns, STREAM), 8888);
  await waitPlayable(`http://127.0.0.1:${hls}`, ingest.path, {}, Date.now());
  await waitUntil(
    'the viewer reading',
    async () => {
      rawMediamtx = (await httpGet(`http://127.0.0.1:${mediamtxPort}/metrics`)).body;
      // MediaMTX's per-session series of the RTSP viewer, with its address.
      return rawMediamtx.split('\n').some((l) => l.startsWith('rtsp_sessions{') && l.includes('remoteAddr='));
    },
    30_000,
    500,
  );
  console.log(`[node] monitoring setup (streams Ready, publishing, viewer playing): ${Date.now() - started}ms`);
});

afterAll(async () => {
  viewer?.kill('SIGKILL');
  await ingest?.publisher.stop();
  await prom?.stop();
});

// Both streams selected in Grafana's stream variable (a multi-value variable becomes a regexp alternation).
const vars = () => ({ namespace: ns, stream: `(${STREAM}|${BROKEN})`, rateInterval: '30s', range: '5m' });

describe('a real Prometheus scraping the chart’s controller and a real stream pod', () => {
  it('scrapes every target: both controller replicas, MediaMTX and the auth sidecar', async () => {
    const targets = await waitUntil(
      'all targets up',
      async () => {
        const t = (await prom.q<{ activeTargets: Obj[] }>('/api/v1/targets')).activeTargets;
        return t.length === 4 && t.every((x) => x.health === 'up') && t;
      },
      30_000,
      500,
    );
    expect(targets.map((t) => t.labels.job).sort()).toEqual([
      'podMonitor/vstream-system/vstream-streams/0',
      'podMonitor/vstream-system/vstream-streams/1',
      'vstream-metrics',
      'vstream-metrics',
    ]);
  });

  it('stores no client address and no connection id from the stream pod, though MediaMTX exports them', async () => {
    // Unfiltered, MediaMTX names each connection and its peer: the drop is doing work.
    expect(rawMediamtx).toMatch(/rtmp_conns\{[^}]*id="[^"]+"[^}]*remoteAddr="[^"]+"/);
    const series = await prom.q<Obj[]>(`/api/v1/series?match[]=${encodeURIComponent('{job=~"podMonitor.*"}')}`);
    expect(series.length).toBeGreaterThan(20);
    const ip = /\b\d{1,3}(\.\d{1,3}){3}\b|\[[0-9a-f:]+\]/i;
    for (const s of series) {
      expect(s, s.__name__).not.toHaveProperty('id');
      expect(s, s.__name__).not.toHaveProperty('remoteAddr');
      // `instance` is the scrape target (the pod; here the relay on 127.0.0.1), never a client.
      for (const [k, v] of Object.entries(s))
        if (k !== 'instance') expect(String(v), `${s.__name__} ${k}`).not.toMatch(ip);
    }
    const names = new Set(series.map((s) => s.__name__));
    expect([...names]).toEqual(expect.arrayContaining(['paths', 'paths_readers', 'vstream_auth_decisions_total']));
    for (const n of names) expect(n).not.toMatch(/_conns|_sessions/);
  });

  it('answers every query of the Grafana dashboard (and its variables) with data', async () => {
    const dash = dashboard();
    const queries = dash.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ title: p.title, expr: fillDashboardVars(t.expr, vars()) })),
    );
    expect(queries.length).toBeGreaterThan(15);
    let empty: string[] = [];
    await waitUntil(
      'every dashboard query has data',
      async () => {
        empty = [];
        for (const { title, expr } of queries)
          if ((await prom.query(expr)).length === 0) empty.push(`${title}: ${expr}`);
        return empty.length === 0;
      },
      60_000,
      2000,
    ).catch(() => {
      throw new Error(`dashboard queries without data:\n${empty.join('\n')}`);
    });
    console.log(`[node] all ${queries.length} dashboard queries returned data`);
    const live = await prom.query(queries.find((q) => q.title === 'Live')!.expr);
    expect(live.map((r) => [r.metric.stream, r.value[1]])).toEqual([[STREAM, '1']]);
    const viewers = await prom.query(queries.find((q) => q.title === 'Viewers')!.expr);
    expect(Number(viewers[0]!.value[1])).toBeGreaterThanOrEqual(1);
    const conditions = await prom.query(queries.find((q) => q.title === 'Conditions not True')!.expr);
    expect(conditions.map((r) => r.metric.name)).toContain(BROKEN);
    expect(conditions.map((r) => r.metric.name)).not.toContain(STREAM);
    // The variables: Grafana's label_values(<selector>, <label>) is the series API's label values.
    for (const v of dash.templating.list.filter((x) => x.name === 'namespace' || x.name === 'stream')) {
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec((v.query as { query: string }).query);
      expect(m, v.name).not.toBeNull();
      const values = await prom.q<string[]>(
        `/api/v1/label/${m![2]}/values?match[]=${encodeURIComponent(fillDashboardVars(m![1]!, vars()))}`,
      );
      expect(values, v.name).toContain(v.name === 'namespace' ? ns : STREAM);
    }
  });

  it('evaluates every rule without error, and fires VStreamStreamNotReady from the controller’s condition gauge', async () => {
    const rules = async () =>
      (await prom.q<{ groups: { rules: Obj[] }[] }>('/api/v1/rules')).groups.flatMap((g) => g.rules);
    await waitUntil(
      'every rule evaluated',
      async () => (await rules()).every((r) => !r.lastEvaluation.startsWith('0001')),
      30_000,
      500,
    );
    const all = await rules();
    expect(all.length).toBeGreaterThanOrEqual(8);
    for (const r of all) expect([r.name, r.health, r.lastError ?? '']).toEqual([r.name, 'ok', '']);
    console.log(`[node] all ${all.length} rules evaluated without error`);
    // The stream's ingest is seen flowing by the recording rule the dropped-stream alert compares against.
    // Waited for, not read once: the rule has a series only after two scrapes of a flowing ingest, which one
    // evaluation of every rule does not imply (a full CI run once read it empty).
    const flowing = await waitUntil(
      'the ingest seen flowing by the recording rule',
      async () => {
        const v = await prom.query(
          `vstream:stream_ingest_flowing:timestamp{stream_namespace="${ns}", stream="${STREAM}"}`,
        );
        return v.length > 0 && v;
      },
      60_000,
      1000,
    );
    expect(flowing).toHaveLength(1);
    const firing = await waitUntil(
      'VStreamStreamNotReady firing for the broken stream',
      async () =>
        (await prom.q<{ alerts: Obj[] }>('/api/v1/alerts')).alerts.find(
          (a) => a.labels.alertname === 'VStreamStreamNotReady' && a.labels.name === BROKEN && a.state === 'firing',
        ),
      30_000,
      500,
    );
    expect(firing.labels.namespace).toBe(ns);
    // Only the broken one of this file's streams (other files' streams share the cluster).
    const notReady = (await prom.q<{ alerts: Obj[] }>('/api/v1/alerts')).alerts.filter(
      (a) => a.labels.alertname === 'VStreamStreamNotReady' && a.labels.namespace === ns,
    );
    expect(notReady.map((a) => a.labels.name)).toEqual([BROKEN]);
  });

  it('does not call a stream whose publisher ended it dropped', async () => {
    viewer?.kill('SIGKILL');
    await ingest!.publisher.stop(); // ffmpeg ends its RTMP session as OBS's Stop Streaming does
    await waitUntil(
      'path no longer ready',
      async () => (await prom.query(`paths{stream_namespace="${ns}", stream="${STREAM}", state="ready"}`)).length === 0,
      30_000,
      500,
    );
    await new Promise((r) => setTimeout(r, 8000)); // past the 5s grace period
    const dropped = (await prom.q<{ alerts: Obj[] }>('/api/v1/alerts')).alerts.filter(
      (a) => a.labels.alertname === 'VStreamStreamDropped' && a.labels.stream_namespace === ns,
    );
    expect(dropped).toEqual([]);
    expect(prom.log()).not.toMatch(/level=error/);
  });
});
