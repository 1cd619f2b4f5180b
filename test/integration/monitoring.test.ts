// Monitoring proven with Prometheus's own code: the chart's rules pass `promtool check rules` and the unit tests in
// test/prometheus/rules-test.yaml (`promtool test rules`), and a real Prometheus server scrapes stand-in MediaMTX
// exporters on 127.0.0.1 through the PodMonitor's relabelling (as the Prometheus Operator would configure it) and
// evaluates the rendered rules: per-connection identity is never stored, a dropped stream alerts, an ended one not.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CHART } from '../../dev/chart.ts';
import { REPO_ROOT, toolPath } from '../../dev/tools.ts';
import type { LiveStream } from '../../src/api/livestream.ts';
import { CONDITION_METRIC } from '../../src/controller/condition-metrics.ts';
import { createStream, inProcessController, streamPath, waitPhase } from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';
import {
  type Obj,
  type Prometheus,
  podMonitorJob,
  renderChart,
  ruleFile,
  startPrometheus,
} from '../support/prometheus.ts';

const render = renderChart;

describe('the PrometheusRule, with promtool', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vstream-rules-'));
  beforeAll(() => {
    writeFileSync(join(dir, 'rules.yaml'), ruleFile(render('prometheusRule.enabled=true')));
    copyFileSync(join(REPO_ROOT, 'test/prometheus/rules-test.yaml'), join(dir, 'rules-test.yaml'));
  });
  const promtool = (...args: string[]) =>
    execFileSync(toolPath('promtool'), args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  it('passes promtool check rules', () => {
    expect(promtool('check', 'rules', 'rules.yaml')).toContain('SUCCESS');
  });

  it('passes promtool test rules (dropped vs ended vs recovered streams, scoping, every alert)', () => {
    let out: string;
    try {
      out = promtool('test', 'rules', 'rules-test.yaml');
    } catch (e) {
      throw new Error(`promtool test rules failed:\n${(e as { stdout?: string }).stdout}`);
    }
    expect(out).toContain('SUCCESS');
  });

  it('links every alert to a runbook in docs/runbooks and scopes it to vstream', () => {
    const groups = render('prometheusRule.enabled=true').find((d) => d.kind === 'PrometheusRule')!.spec.groups;
    const runbooks = readdirSync(join(REPO_ROOT, 'docs/runbooks'));
    const alerts = groups.flatMap((g: Obj) => g.rules).filter((r: Obj) => r.alert);
    expect(alerts.length).toBeGreaterThanOrEqual(5);
    for (const a of alerts) {
      const url = String(a.annotations.runbook_url);
      expect(url, a.alert).toMatch(
        /^https:\/\/github\.com\/vstream\/vstream\/blob\/main\/docs\/runbooks\/[a-z-]+\.md$/,
      );
      expect(runbooks, a.alert).toContain(url.split('/').pop());
      expect(a.expr, a.alert).toMatch(/stream!=""|job="vstream-metrics"|vstream:stream_ingest/);
    }
    // The tests in rules-test.yaml cover every alert.
    const tested = readFileSync(join(REPO_ROOT, 'test/prometheus/rules-test.yaml'), 'utf8');
    for (const a of alerts) expect(tested, a.alert).toContain(`alertname: ${a.alert}`);
  });
});

/** A stand-in MediaMTX /metrics (MediaMTX 1.20.1's names and labels) for one stream, in a phase the test sets. */
function fakeMediaMTX(path: string) {
  const state = { phase: 'flowing' as 'flowing' | 'stalled' | 'ended', bytes: 0, queries: [] as string[] };
  const server = createServer((req, res) => {
    state.queries.push(new URL(req.url ?? '/', 'http://x').search);
    if (state.phase === 'flowing') state.bytes += 250_000;
    const ready = state.phase !== 'ended';
    const s = ready ? 'ready' : 'notReady';
    const lines = [
      `paths{name="${path}",state="${s}"} 1`,
      `paths_readers{name="${path}",state="${s}",readerType="hlsMuxer"} ${ready ? 1 : 0}`,
      `paths_inbound_bytes{name="${path}",state="${s}"} ${ready ? state.bytes : 0}`,
      `paths_outbound_bytes{name="${path}",state="${s}"} ${ready ? state.bytes * 3 : 0}`,
      `hls_muxers{name="${path}"} 1`,
      ...(ready
        ? [
            `rtmp_conns{id="5f2c1d7e-0b7e-4d7a-9a57-2a5b8a8f4a11",path="${path}",remoteAddr="203.0.113.9:50123",state="publish"} 1`,
            `rtmp_conns_inbound_bytes{id="5f2c1d7e-0b7e-4d7a-9a57-2a5b8a8f4a11",path="${path}",remoteAddr="203.0.113.9:50123",state="publish"} ${state.bytes}`,
            `hls_sessions{id="9d3a7a6e-3f41-4c3e-b0b1-7f6d8c1e2a33",path="${path}",remoteAddr="198.51.100.4:41234"} 1`,
            `hls_sessions_outbound_bytes{id="9d3a7a6e-3f41-4c3e-b0b1-7f6d8c1e2a33",path="${path}",remoteAddr="198.51.100.4:41234"} ${state.bytes}`,
            `srt_conns_ms_rtt{id="0c7d",path="${path}",remoteAddr="192.0.2.7:9000",state="publish"} 12`,
          ]
        : []),
    ];
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`${lines.join('\n')}\n`);
  });
  return { state, server };
}

describe('the Grafana dashboard, with promtool', () => {
  it("has only queries Prometheus's parser accepts (Grafana's variables filled in)", () => {
    const dash = JSON.parse(readFileSync(join(CHART, 'dashboards/vstream.json'), 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const fill = (e: string) =>
      e
        .replaceAll('$__rate_interval', '1m')
        .replaceAll('$__range', '1h')
        .replace(/\$(namespace|stream)/g, '.*');
    for (const p of dash.panels)
      for (const t of p.targets ?? []) {
        try {
          execFileSync(toolPath('promtool'), ['--experimental', 'promql', 'format', fill(t.expr)], {
            stdio: ['ignore', 'pipe', 'pipe'],
          });
        } catch (e) {
          throw new Error(`${p.title}: ${(e as { stderr?: string }).stderr}`);
        }
      }
  });
});

describe('a real Prometheus scraping through the PodMonitor and evaluating the rules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vstream-prometheus-'));
  const streams = { dropped: fakeMediaMTX('live/dropped'), ended: fakeMediaMTX('live/ended') };
  let prom: Prometheus | undefined;
  const q = <T = Obj[]>(path: string): Promise<T> => prom!.q<T>(path);
  beforeAll(async () => {
    // Test timing: stream pods scraped every 1s, a 5s grace period.
    const docs = render(
      'metrics.podMonitor.enabled=true',
      'prometheusRule.enabled=true',
      'metrics.podMonitor.interval=1s',
      'metrics.podMonitor.scrapeTimeout=1s',
      'prometheusRule.droppedGracePeriod=5s',
    );
    writeFileSync(join(dir, 'rules.yaml'), ruleFile(docs));
    const endpoint = docs.find((d) => d.kind === 'PodMonitor')!.spec.podMetricsEndpoints[0];
    const targets = [];
    for (const [name, s] of Object.entries(streams)) {
      await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
      targets.push({
        targets: [`127.0.0.1:${(s.server.address() as AddressInfo).port}`],
        // What Kubernetes service discovery would say about the stream pod.
        labels: { __meta_kubernetes_pod_label_vstream_io_livestream: name, __meta_kubernetes_namespace: 'events' },
      });
    }
    writeFileSync(
      join(dir, 'prometheus.yml'),
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: ['rules.yaml'],
        scrape_configs: [podMonitorJob(endpoint, 'podMonitor/vstream-system/vstream-streams/0', { static: targets })],
      }),
    );
    prom = await startPrometheus(dir);
  });

  afterAll(async () => {
    await prom?.stop();
    for (const s of Object.values(streams)) s.server.close();
  });

  it('stores per-stream series with stream labels and no per-connection identity', async () => {
    await waitUntil(
      'paths scraped',
      async () => (await q<Obj>('/api/v1/query?query=paths')).result?.length === 2,
      20_000,
    );
    const series = await q<Obj[]>(`/api/v1/series?match[]=${encodeURIComponent('{job=~"podMonitor.*"}')}`);
    const names = new Set(series.map((s) => s.__name__));
    expect([...names]).toEqual(expect.arrayContaining(['paths', 'paths_inbound_bytes', 'paths_readers', 'hls_muxers']));
    for (const gone of [
      'rtmp_conns',
      'rtmp_conns_inbound_bytes',
      'hls_sessions',
      'hls_sessions_outbound_bytes',
      'srt_conns_ms_rtt',
    ])
      expect(names.has(gone), gone).toBe(false);
    for (const s of series) {
      expect(s, s.__name__).not.toHaveProperty('id');
      expect(s, s.__name__).not.toHaveProperty('remoteAddr');
    }
    const paths = series.filter((s) => s.__name__ === 'paths').map((s) => `${s.stream_namespace}/${s.stream}`);
    expect(paths.sort()).toEqual(['events/dropped', 'events/ended']);
    expect(prom!.log()).not.toMatch(/level=error/);
  });

  it('fires VStreamStreamDropped for the stream that dropped, never for the one that ended', async () => {
    await new Promise((r) => setTimeout(r, 3000)); // both live and flowing
    streams.ended.state.phase = 'ended'; // the publisher stopped: bytes flowed to the end
    streams.dropped.state.phase = 'stalled'; // the network went: MediaMTX waits for its read timeout
    await new Promise((r) => setTimeout(r, 4000));
    streams.dropped.state.phase = 'ended';
    const firing = await waitUntil(
      'VStreamStreamDropped firing',
      async () => {
        const alerts = (await q<{ alerts: Obj[] }>('/api/v1/alerts')).alerts;
        return alerts.find((a) => a.labels.alertname === 'VStreamStreamDropped' && a.state === 'firing');
      },
      30_000,
      500,
    );
    expect(firing.labels).toMatchObject({ stream: 'dropped', stream_namespace: 'events', severity: 'warning' });
    // Well past the grace period for both: only the dropped stream alerts.
    await new Promise((r) => setTimeout(r, 3000));
    const alerts = (await q<{ alerts: Obj[] }>('/api/v1/alerts')).alerts.filter(
      (a) => a.labels.alertname === 'VStreamStreamDropped',
    );
    expect(alerts.map((a) => `${a.labels.stream}:${a.state}`)).toEqual(['dropped:firing']);
  }, 60_000);
});

describe('vstream_livestream_condition, from a real controller against the real API server', () => {
  const c = clients();
  let ctl: Awaited<ReturnType<typeof inProcessController>> | undefined;
  afterAll(async () => {
    await ctl?.shutdown();
  });

  it('exports each condition in status (1 on its status, 0 on the others) and drops them with the stream', async () => {
    await installCrd(c.kube);
    const ns = await freshNamespace(c.core, 'cond');
    ctl = await inProcessController();
    await createStream(c.kube, ns, 'gauge');
    const ls = await waitPhase(c.kube, ns, 'gauge', 'Ready');
    const scrape = async () => (await fetch(`${ctl!.opsAddr}/metrics`)).text();
    const ours = (text: string) =>
      text.split('\n').filter((l) => l.startsWith(`${CONDITION_METRIC}{namespace="${ns}"`));
    // The gauge reads the cache, which may be a write behind the GET above: wait for the Ready condition to show.
    await waitUntil(
      'Ready=True exported',
      async () =>
        ours(await scrape()).includes(
          `${CONDITION_METRIC}{namespace="${ns}",name="gauge",type="Ready",status="True"} 1`,
        ),
      15_000,
    );
    const now = (await c.kube.get<LiveStream>(streamPath(ns, 'gauge'))).status!.conditions!;
    expect(now.length).toBeGreaterThanOrEqual(ls.status!.conditions!.length);
    const lines = ours(await scrape());
    expect(lines).toHaveLength(3 * now.length);
    for (const cond of now)
      for (const status of ['True', 'False', 'Unknown'])
        expect(lines).toContain(
          `${CONDITION_METRIC}{namespace="${ns}",name="gauge",type="${cond.type}",status="${status}"} ${cond.status === status ? 1 : 0}`,
        );

    await c.kube.delete(streamPath(ns, 'gauge'));
    await waitUntil('series gone', async () => ours(await scrape()).length === 0, 15_000);
  });
});
