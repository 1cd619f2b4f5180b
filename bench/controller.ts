// Benchmark of the controller at scale, against a local API server (fast tier: etcd + kube-apiserver, so the
// API server's own work is the only other load). In one script, on the same API server and at the same concurrency:
//   baseline:   for each stream, create the LiveStream, server-side-apply its rendered children and its status
//               directly (the least any controller must send);
//   controller: create the LiveStreams with `vstream controller` running; wait until every child exists and every
//               status is written.
// Reports the ratio, the controller's peak RSS, its writes per stream against the minimum, and its writes during 60 s
// of idle afterwards. Writes bench/results/controller.json.
//   npm run bench:controller [-- --streams 1000 --idle 60]
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { freePort, httpsGet, startCluster } from '../dev/cluster.ts';
import { REPO_ROOT } from '../dev/tools.ts';
import { liveStreamCrd } from '../src/api/crd.ts';
import { API_VERSION, KIND, type LiveStream } from '../src/api/livestream.ts';
import { Informer } from '../src/controller/informer.ts';
import { FIELD_MANAGER } from '../src/controller/reconcile.ts';
import { desiredStatus, withTransitions } from '../src/controller/status.ts';
import { Kube, type KubeObject } from '../src/kube/rest.ts';
import { childObjects, internalSecretObject, publishSecretObject, renderStream } from '../src/render/objects.ts';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '1000' },
    idle: { type: 'string', default: '60' },
    concurrency: { type: 'string', default: '8' },
  },
});
const N = Number(values.streams);
const IDLE = Number(values.idle);
const C = Number(values.concurrency);
const SIDECAR = 'ghcr.io/vstream/vstream:bench';
// The heap settings the chart gives the controller (values.yaml nodeOptions): V8 otherwise grows the heap far past
// what the caches need before it collects.
const NODE_FLAGS = '--max-old-space-size=112 --max-semi-space-size=2';

const cluster = await startCluster({ tier: 'fast' });
const kube = await Kube.load(cluster.kubeconfig);
const log = (s: string) => console.error(`[bench] ${s}`);

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<unknown>) {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

/** Mutating requests the API server has served, excluding its own leases. */
async function serverWrites(): Promise<number> {
  const { body } = await httpsGet(`${cluster.server}/metrics`, cluster.token);
  let total = 0;
  for (const line of body.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = /verb="(\w+)"/.exec(line)?.[1] ?? '';
    const resource = /resource="(\w+)"/.exec(line)?.[1] ?? '';
    // leases and ipaddresses are the API server's own writes (its identity lease, Service IP allocation).
    if (
      !['POST', 'PATCH', 'PUT', 'DELETE', 'APPLY', 'DELETECOLLECTION'].includes(verb) ||
      resource === 'leases' ||
      resource === 'ipaddresses'
    )
      continue;
    total += Number(line.split(' ').pop());
  }
  return total;
}

const stream = (ns: string, i: number): LiveStream => ({
  apiVersion: API_VERSION,
  kind: KIND,
  metadata: { name: `s${i}`, namespace: ns },
  spec: { ingest: { protocols: ['rtmp', 'srt'] }, playback: { protocols: ['hls'] } },
});

try {
  await kube.apply(liveStreamCrd() as unknown as KubeObject, 'bench');
  await new Promise((r) => setTimeout(r, 2000));
  for (const ns of ['base', 'ctl']) await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });

  // Baseline.
  log(`baseline: ${N} streams, concurrency ${C}`);
  const b0 = await serverWrites();
  const t0 = performance.now();
  await pool([...Array(N).keys()], C, async (i) => {
    const created = await kube.create<LiveStream>(stream('base', i) as unknown as KubeObject);
    const r = renderStream(created, { sidecarImage: SIDECAR });
    await kube.create(internalSecretObject(created, 'x'.repeat(32)) as KubeObject);
    await kube.create(publishSecretObject(created, 'y'.repeat(32)) as KubeObject);
    for (const o of childObjects(r)) await kube.apply(o as KubeObject, FIELD_MANAGER);
    const status = withTransitions(
      desiredStatus(created, { spec: r.spec, publishSecret: r.publishSecret }),
      undefined,
      new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    );
    await kube.apply(
      {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: created.metadata.name, namespace: 'base' },
        status,
      } as KubeObject,
      FIELD_MANAGER,
      { subresource: 'status' },
    );
  });
  const baselineSeconds = (performance.now() - t0) / 1000;
  const baselineWrites = (await serverWrites()) - b0;
  log(`baseline: ${baselineSeconds.toFixed(1)}s, ${(baselineWrites / N).toFixed(2)} writes/stream`);
  for (const kind of ['configmaps', 'services', 'secrets']) await kube.delete(`/api/v1/namespaces/base/${kind}`);
  await kube.delete('/apis/apps/v1/namespaces/base/deployments');
  await kube.delete(`/apis/${API_VERSION}/namespaces/base/livestreams`);

  // Controller: the compiled JavaScript the image ships (tsconfig.build.json), not the type-stripped sources.
  const dist = join(REPO_ROOT, '.vstream', 'bench-dist');
  execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), [
    '-p',
    join(REPO_ROOT, 'tsconfig.build.json'),
    '--outDir',
    dist,
  ]);
  const port = await freePort();
  const ctl = spawn(
    process.execPath,
    [
      ...(process.env.CONTROLLER_NODE_FLAGS ?? NODE_FLAGS).split(' ').filter(Boolean),
      join(dist, 'src/cli.js'),
      'controller',
      '--kubeconfig',
      cluster.kubeconfig,
      '--metrics-addr',
      `127.0.0.1:${port}`,
      '--probe',
      'off',
      '--concurrency',
      String(C),
      '--sidecar-image',
      SIDECAR,
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, LOG_LEVEL: 'warn' },
    },
  );
  let rssPeak = 0;
  const rssTimer = setInterval(() => {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${ctl.pid}/status`, 'utf8'))?.[1] ?? 0);
      rssPeak = Math.max(rssPeak, kb);
    } catch {}
  }, 200);
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const watcher = new Informer(
    kube,
    { name: 'bench', path: `/apis/${API_VERSION}/namespaces/ctl/livestreams` },
    pino({ level: 'warn' }),
  );
  const done = new Promise<void>((resolve) => {
    const ready = new Set<string>();
    watcher.on((_t, o) => {
      if ((o as unknown as LiveStream).status?.observedGeneration === 1) ready.add(o.metadata.name);
      if (ready.size === N) resolve();
    });
  });
  watcher.start();
  await watcher.waitForSync();
  const c0 = await serverWrites();
  const t1 = performance.now();
  await pool([...Array(N).keys()], C, (i) => kube.create(stream('ctl', i) as unknown as KubeObject));
  log('controller: streams created; waiting for children and statuses');
  // Watch (not poll) for statuses, so the measurement adds no list load to the API server under test.
  // The controller writes a stream's status after its children, so all statuses means all children; checked below.
  await done;
  const controllerSeconds = (performance.now() - t1) / 1000;
  watcher.stop();
  const [cms, deps, secrets] = await Promise.all([
    kube.list('/api/v1/namespaces/ctl/configmaps', { labelSelector: 'vstream.io/livestream' }),
    kube.list('/apis/apps/v1/namespaces/ctl/deployments', { labelSelector: 'vstream.io/livestream' }),
    kube.list('/api/v1/namespaces/ctl/secrets', { labelSelector: 'vstream.io/livestream' }),
  ]);
  if (cms.items.length !== N || deps.items.length !== N || secrets.items.length !== 2 * N)
    throw new Error('children missing after all statuses were written');
  const writes = (await serverWrites()) - c0 - N; // minus the bench's own creates
  log(`controller: ${controllerSeconds.toFixed(1)}s, ${(writes / N).toFixed(2)} writes/stream; idling ${IDLE}s`);
  await new Promise((r) => setTimeout(r, 5000)); // let in-flight events settle before counting idle writes
  const i0 = await serverWrites();
  await new Promise((r) => setTimeout(r, IDLE * 1000));
  const idleWrites = (await serverWrites()) - i0;
  clearInterval(rssTimer);
  ctl.kill('SIGTERM');

  const children =
    childObjects(
      renderStream(
        { ...stream('ctl', 0), metadata: { ...stream('ctl', 0).metadata, uid: 'u' } },
        { sidecarImage: SIDECAR },
      ),
    ).length + 2;
  const result = {
    streams: N,
    controller_seconds: Number(controllerSeconds.toFixed(2)),
    baseline_seconds: Number(baselineSeconds.toFixed(2)),
    ratio: Number((controllerSeconds / baselineSeconds).toFixed(3)),
    rss_mib: Number((rssPeak / 1024).toFixed(1)),
    writes_per_stream: Number((writes / N).toFixed(3)),
    min_writes_per_stream: children + 1,
    idle_writes: idleWrites,
    detail: {
      node_flags: process.env.CONTROLLER_NODE_FLAGS ?? NODE_FLAGS,
      concurrency: C,
      idle_seconds: IDLE,
      baseline_writes_per_stream: Number((baselineWrites / N - 1).toFixed(3)),
      tier: 'fast (etcd + kube-apiserver)',
      controller_build: 'compiled JavaScript, as in the image',
    },
  };
  writeFileSync(join(import.meta.dirname, 'results/controller.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
} finally {
  await cluster.stop();
}
