// A real Prometheus server (tools/build.sh family prometheus) for the monitoring tests, configured from the chart's
// rendered monitors the way the Prometheus Operator would configure it: the PodMonitor's relabelings and
// metricRelabelings converted to scrape configs, the PrometheusRule's groups as a rule file.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { CHART, helm } from '../../dev/chart.ts';
import { freePort } from '../../dev/cluster.ts';
import { toolPath } from '../../dev/tools.ts';
import { waitUntil } from './wait.ts';

export type Obj = Record<string, any>;

/** The chart rendered (release vstream in vstream-system) with the Prometheus Operator's API available. */
export const renderChart = (...set: string[]): Obj[] =>
  parseAllDocuments(
    helm([
      'template',
      'vstream',
      CHART,
      '--namespace',
      'vstream-system',
      '--api-versions',
      'monitoring.coreos.com/v1',
      ...set.flatMap((s) => ['--set', s]),
    ]),
  )
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => Boolean(o?.kind));

/** The rule groups of the rendered PrometheusRule, as a Prometheus rule file. */
export const ruleFile = (docs: Obj[]) =>
  stringify({ groups: docs.find((d) => d.kind === 'PrometheusRule')!.spec.groups });

/** A Prometheus Operator RelabelConfig -> a Prometheus relabel_config (camelCase -> snake_case, as the operator does). */
export const relabel = (r: Obj) =>
  Object.fromEntries(
    Object.entries(r).map(([k, v]) => [
      k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
      k === 'action' ? String(v).toLowerCase() : v,
    ]),
  );

/** A scrape config for one PodMonitor endpoint, targets given by Kubernetes-SD-like labels (static or file SD). */
export function podMonitorJob(
  endpoint: Obj,
  jobName: string,
  targets: { static?: { targets: string[]; labels: Record<string, string> }[]; file?: string },
): Obj {
  return {
    job_name: jobName,
    scrape_interval: endpoint.interval,
    scrape_timeout: endpoint.scrapeTimeout,
    metrics_path: endpoint.path,
    ...(endpoint.params ? { params: endpoint.params } : {}),
    ...(targets.static ? { static_configs: targets.static } : {}),
    ...(targets.file ? { file_sd_configs: [{ files: [targets.file], refresh_interval: '1s' }] } : {}),
    relabel_configs: (endpoint.relabelings ?? []).map(relabel),
    ...(endpoint.metricRelabelings ? { metric_relabel_configs: endpoint.metricRelabelings.map(relabel) } : {}),
  };
}

/** Replaces a file-SD target file atomically (Prometheus watches it). */
export function writeTargets(file: string, groups: { targets: string[]; labels: Record<string, string> }[]) {
  writeFileSync(`${file}.tmp`, JSON.stringify(groups));
  renameSync(`${file}.tmp`, file);
}

export interface Prometheus {
  api: string;
  proc: ChildProcess;
  log: () => string;
  /** GET an API path; throws unless Prometheus answers status success. */
  q<T = Obj[]>(path: string): Promise<T>;
  /** An instant query's result vector. */
  query(expr: string): Promise<Obj[]>;
  stop(): Promise<void>;
}

/** Starts Prometheus with <dir>/prometheus.yml (already written) and waits until it is ready. */
export async function startPrometheus(dir: string): Promise<Prometheus> {
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const proc = spawn(
    toolPath('prometheus'),
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  proc.stderr?.on('data', (d) => {
    log += d;
  });
  const exited = new Promise((r) => proc.once('exit', r));
  const q = async <T = Obj[]>(path: string): Promise<T> => {
    const r = (await (await fetch(`${api}${path}`)).json()) as { status: string; data: T };
    if (r.status !== 'success') throw new Error(JSON.stringify(r));
    return r.data;
  };
  await waitUntil(
    'prometheus ready',
    async () => {
      if (proc.exitCode !== null) throw new Error(`prometheus exited ${proc.exitCode}: ${log}`);
      return (await fetch(`${api}/-/ready`).catch(() => undefined))?.ok;
    },
    30_000,
  );
  return {
    api,
    proc,
    log: () => log,
    q,
    query: async (expr) => (await q<{ result: Obj[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** The chart's Grafana dashboard JSON. */
export const dashboard = () =>
  JSON.parse(readFileSync(join(CHART, 'dashboards/vstream.json'), 'utf8')) as {
    panels: { title: string; targets?: { expr: string }[] }[];
    templating: { list: { name: string; query: unknown }[] };
  };

/** A dashboard query with Grafana's variables filled in. */
export const fillDashboardVars = (
  e: string,
  v: { namespace: string; stream: string; rateInterval: string; range: string },
) =>
  e
    .replaceAll('$__rate_interval', v.rateInterval)
    .replaceAll('$__range', v.range)
    .replaceAll('$namespace', v.namespace)
    .replaceAll('$stream', v.stream);
