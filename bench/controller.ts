// Benchmark of the controller at scale, against a local API server (fast tier: etcd + kube-apiserver, so the
// API server's own work is the only other load). In one script, on the same API server and at the same concurrency:
//   baseline:   for each stream, create the LiveStream, server-side-apply its rendered children and its status
//               directly (the least any controller must send);
//   baseline with watches: the same, while the controller's watches are open and drained (the API server's cost of
//               serving them is the same for any informer-based controller: the floor on this machine);
//   controller: create the LiveStreams with `vstream controller` running; wait until every child exists and every
//               status is written.
// Streams are a mix of every kind (public, recording under Retain and Delete, JWT with a keys Secret, a user's
// publish-token Secret, LoadBalancer), round-robin. Reports the ratio, the controller's peak RSS, its writes per
// stream against the minimum, its writes during 60 s of idle afterwards (by resource), and the time from a spec edit
// to the child updated while the live loop polls every stream's (fake) MediaMTX control API.
// Writes bench/results/controller.json.
//   npm run bench:controller [-- --streams 1000 --idle 60 --edits 100 --kinds public,jwt --no-watched-baseline --no-memory-saver]
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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
import { WATCHES } from '../src/controller/watches.ts';
import { HttpMethod, Kube, type KubeObject, objectPath, resourcePath } from '../src/kube/rest.ts';
import { childObjects, internalSecretObject, publishSecretObject, renderStream } from '../src/render/objects.ts';
import { waitUntil } from '../test/support/wait.ts';

const { values } = parseArgs({
  allowNegative: true,
  options: {
    streams: { type: 'string', default: '1000' },
    idle: { type: 'string', default: '60' },
    concurrency: { type: 'string', default: '8' },
    edits: { type: 'string', default: '100' },
    kinds: { type: 'string', default: '' },
    churn: { type: 'string', default: '60' },
    'watched-baseline': { type: 'boolean', default: true },
    'memory-saver': { type: 'boolean', default: true },
  },
});
const EDITS = Number(values.edits);
const N = Number(values.streams);
const IDLE = Number(values.idle);
const C = Number(values.concurrency);
const CHURN = Number(values.churn);
const WATCHED_BASELINE = values['watched-baseline'];
/** Streams whose (fake) audience moves at every poll in the churn phase. */
const CHURNING = Math.min(N, 1000);
const SIDECAR = 'ghcr.io/vstream/vstream:bench';
// The heap settings the chart gives the controller (values.yaml nodeOptions): V8 otherwise grows the heap far past
// what the caches need before it collects.
// Above 1 000 streams, the chart's sizing rule: about 24 MiB more old space per further 1 000 LiveStreams (at 10 000
// the caches and state held 21 MiB of heap per 1 000; a looser cap, 36 MiB per 1 000, let the heap, and so RSS,
// grow to 567 MiB while the live heap stayed near 214 MiB).
const NODE_FLAGS = `--max-old-space-size=${112 + Math.max(0, Math.ceil(N / 1000) - 1) * 24} --max-semi-space-size=4`;

const cluster = await startCluster({ tier: 'fast' });
const kube = await Kube.load(cluster.kubeconfig);
/** MiB per heap space and the process totals, from prom-client's default metrics. */
function memoryBreakdown(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  const mib = (v: string) => Number((Number(v) / 2 ** 20).toFixed(1));
  for (const m of text.matchAll(/^nodejs_heap_space_size_used_bytes\{space="(\w+)"\} (\S+)$/gm))
    out[`heap_used_${m[1]}`] = mib(m[2] as string);
  for (const name of [
    'process_resident_memory_bytes',
    'nodejs_heap_size_total_bytes',
    'nodejs_heap_size_used_bytes',
    'nodejs_external_memory_bytes',
  ]) {
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    if (m) out[name.replace(/^(process_|nodejs_)/, '').replace(/_bytes$/, '')] = mib(m[1] as string);
  }
  return out;
}

/** The sum of a counter's samples over all its labels, from Prometheus text. */
function sumOf(text: string, name: string): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

/** A list in pages of 500, as the informer lists: 10 000 objects in one response outlast a request's timeout. */
async function listAll(path: string, labelSelector?: string): Promise<{ items: KubeObject[] }> {
  const items: KubeObject[] = [];
  let cont: string | undefined;
  do {
    const page = await kube.list(path, { labelSelector, limit: 500, continue: cont });
    items.push(...page.items);
    cont = page.metadata.continue || undefined;
  } while (cont);
  return { items };
}

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
  return Object.values(await serverWritesByResource()).reduce((a, b) => a + b, 0);
}

/** The same, by "VERB resource". */
async function serverWritesByResource(): Promise<Record<string, number>> {
  const { body } = await httpsGet(`${cluster.server}/metrics`, cluster.token);
  const out: Record<string, number> = {};
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
    const sub = /subresource="(\w+)"/.exec(line)?.[1];
    const k = `${verb} ${resource}${sub ? `/${sub}` : ''}`;
    out[k] = (out[k] ?? 0) + Number(line.split(' ').pop());
  }
  return out;
}

const diff = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
      .filter(([, v]) => v !== 0),
  );

/** Every kind of stream a user runs, round-robin. */
const MIX: Record<string, LiveStream['spec']> = {
  public: { ingest: { protocols: ['rtmp', 'srt'] }, playback: { protocols: ['hls'] } },
  'recording-retain': { recording: { enabled: true, reclaimPolicy: 'Retain' } },
  'recording-delete': { recording: { enabled: true, reclaimPolicy: 'Delete', storage: { size: '1.5Gi' } } },
  jwt: { playback: { access: 'jwt', jwt: { issuer: 'https://id.example', keysSecretRef: { name: 'viewer-keys' } } } },
  'custom-secret': { ingest: { publishTokenSecretRef: { name: 'publish-tokens' } } },
  'load-balancer': { service: { type: 'LoadBalancer', annotations: { 'lb.example/scheme': 'internet-facing' } } },
};
// --kinds public,jwt runs only those kinds (to see what one kind costs); the default is every kind.
// A LoadBalancer Service takes node ports from one cluster-wide range (30000-32767, 2 768 ports): above about 3 000
// streams there are not enough for every sixth stream's, so the default mix leaves that kind out there (as #15's
// 10 000-stream mix does: recording, JWT, public, custom Secret).
const KINDS = values.kinds
  ? values.kinds.split(',').filter((k) => k in MIX)
  : Object.keys(MIX).filter((k) => N <= 3000 || k !== 'load-balancer');
const kindOf = (i: number) => KINDS[i % KINDS.length]!;

const stream = (ns: string, i: number): LiveStream => ({
  apiVersion: API_VERSION,
  kind: KIND,
  metadata: { name: `s${i}`, namespace: ns },
  spec: MIX[kindOf(i)]!,
});

/** The Secrets the JWT and custom-Secret streams reference, in a namespace. */
async function userSecrets(ns: string) {
  const { exportJWK, generateKeyPair } = await import('jose');
  const pair = await generateKeyPair('ES256', { extractable: true });
  const jwks = JSON.stringify({ keys: [await exportJWK(pair.publicKey)] });
  for (const [name, key, value] of [
    ['viewer-keys', 'jwks.json', jwks],
    ['publish-tokens', 'token', 'bench-token-0123456789abcdef'],
  ] as const)
    await kube.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: ns },
      stringData: { [key]: value },
    });
}

/**
 * A stand-in for every stream's MediaMTX control API (GET /<ns>/<name>/v3/paths/get/<path>): a publisher is on.
 * With churn on, the first CHURNING streams report a different number of readers at every poll.
 */
async function fakeMediaMTX() {
  let polls = 0;
  const state = { churn: false };
  const server = createServer((req, res) => {
    polls++;
    if (req.url?.endsWith('/recording')) {
      // The sidecar's recording figures, steady: written once, then never again while nothing changes.
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          paused: false,
          usedBytes: 1 << 20,
          freeBytes: 1 << 30,
          totalBytes: (1 << 30) + (1 << 20),
          segments: 1,
          deleted: {},
          oldest: '2026-01-01T00:00:00Z',
          newest: '2026-01-01T00:00:00Z',
        }),
      );
      return;
    }
    const i = Number(/\/s(\d+)\//.exec(req.url ?? '')?.[1] ?? -1);
    const readers =
      state.churn && i >= 0 && i < CHURNING
        ? Array.from({ length: 1 + Math.floor(Math.random() * 200) }, () => ({ type: 'hlsMuxer' }))
        : [];
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ online: true, ready: true, source: { type: 'rtmpConn' }, readers }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, polls: () => polls, server, state };
}

/** User + system CPU a process has used (Linux clock ticks are 1/100 s): less noisy than wall time on a shared machine. */
const cpuSeconds = (pid: number | undefined) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
};

try {
  await kube.apply(liveStreamCrd() as unknown as KubeObject, 'bench');
  await new Promise((r) => setTimeout(r, 2000));
  for (const ns of ['base', 'ctl']) {
    await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await userSecrets(ns);
  }

  // Deleting thousands of objects of a kind in one call outlasts the API server's own 60 s request timeout (measured
  // at 10 000 streams: HTTP 504 for 3 333 Services), so what a collection delete leaves is deleted one by one.
  const deleteAll = async (path: string) => {
    const r = await kube.raw(HttpMethod.DELETE, path, { signal: AbortSignal.timeout(120_000) }).catch(() => undefined);
    // The answer lists every object deleted: read to its end, or the API server stays blocked writing it and counts
    // the request only when the connection goes, minutes later, as a write in the controller's idle window.
    const done = await r?.text().then(
      () => r.ok,
      () => false,
    );
    if (done) return;
    const left = await listAll(path);
    await pool(left.items, C, (o) =>
      kube.delete(`${path}/${o.metadata.name}`).catch((e: { status?: number }) => {
        if (e.status !== 404) throw e;
      }),
    );
  };
  /**
   * The least any controller must send, in namespace base, then deleted. With `watched`, the same requests while
   * the controller's own watches (src/controller/watches.ts WATCHES) are open and drained: the API server then also
   * encodes and sends every change to a watcher, as it must for any informer-based controller — the floor of the
   * controller's time on this machine.
   */
  const baseline = async (watched: boolean) => {
    const watchers = watched
      ? Object.values(WATCHES).map(
          (w) =>
            new Informer(
              kube,
              { ...w, name: `bench-${w.name}`, transform: (o) => ({ metadata: { name: o.metadata.name } }) },
              pino({ level: 'warn' }),
            ),
        )
      : [];
    for (const w of watchers) w.start();
    await Promise.all(watchers.map((w) => w.waitForSync()));
    const b0 = await serverWrites();
    const t0 = performance.now();
    await pool([...Array(N).keys()], C, async (i) => {
      const created = await kube.create<LiveStream>(stream('base', i) as unknown as KubeObject);
      const r = renderStream(created, { sidecarImage: SIDECAR });
      // What a controller that never takes over a namesake must send: a read before each first create or apply,
      // a read of each referenced Secret, then the writes.
      const secrets = [internalSecretObject(created, 'x'.repeat(32))];
      if (r.publishSecret.generated) secrets.push(publishSecretObject(created, 'y'.repeat(32)));
      for (const o of secrets) {
        await kube.getOrUndefined(objectPath(o as KubeObject));
        await kube.create(o as KubeObject);
      }
      if (!r.publishSecret.generated) await kube.get(resourcePath('v1', 'Secret', 'base', r.publishSecret.name));
      if (r.spec.playback.access === 'jwt') await kube.get(resourcePath('v1', 'Secret', 'base', 'viewer-keys'));
      for (const o of childObjects(r)) {
        await kube.getOrUndefined(objectPath(o as KubeObject));
        await kube.apply(o as KubeObject, FIELD_MANAGER);
      }
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
    const seconds = (performance.now() - t0) / 1000;
    const writes = (await serverWrites()) - b0;
    for (const w of watchers) w.stop();
    log(`baseline${watched ? ' with watches' : ''}: ${seconds.toFixed(1)}s, ${(writes / N).toFixed(2)} writes/stream`);
    for (const kind of ['configmaps', 'services', 'secrets', 'persistentvolumeclaims'])
      await deleteAll(`/api/v1/namespaces/base/${kind}`);
    await deleteAll('/apis/apps/v1/namespaces/base/deployments');
    await deleteAll(`/apis/${API_VERSION}/namespaces/base/livestreams`);
    await userSecrets('base'); // deleted with the rest: the next baseline references them again
    return { seconds, writes };
  };
  log(`baseline: ${N} streams, concurrency ${C}`);
  const { seconds: baselineSeconds, writes: baselineWrites } = await baseline(false);
  const watchedBaselineSeconds = WATCHED_BASELINE ? (await baseline(true)).seconds : Number.NaN;

  // Controller: the compiled JavaScript the image ships (tsconfig.build.json), not the type-stripped sources.
  const dist = join(REPO_ROOT, '.vstream', 'bench-dist');
  execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), [
    '-p',
    join(REPO_ROOT, 'tsconfig.build.json'),
    '--outDir',
    dist,
  ]);
  const port = await freePort();
  const mtx = await fakeMediaMTX();
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
      mtx.url,
      '--concurrency',
      String(C),
      '--sidecar-image',
      SIDECAR,
      ...(values['memory-saver'] ? [] : ['--no-memory-saver']),
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { MALLOC_ARENA_MAX: '2', ...process.env, LOG_LEVEL: 'warn' }, // as the chart sets it
    },
  );
  let rssPeak = 0;
  // The peak of each phase too: which phase sets the peak says where memory would have to come from.
  let phase = 'start';
  const rssByPhase: Record<string, number> = {};
  const rssTimer = setInterval(() => {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${ctl.pid}/status`, 'utf8'))?.[1] ?? 0);
      rssPeak = Math.max(rssPeak, kb);
      rssByPhase[phase] = Math.max(rssByPhase[phase] ?? 0, Number((kb / 1024).toFixed(1)));
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
  const cpu0 = cpuSeconds(ctl.pid);
  const t1 = performance.now();
  phase = 'creating';
  await pool([...Array(N).keys()], C, (i) => kube.create(stream('ctl', i) as unknown as KubeObject));
  log('controller: streams created; waiting for children and statuses');
  // Watch (not poll) for statuses, so the measurement adds no list load to the API server under test.
  // The controller writes a stream's status after its children, so all statuses means all children; checked below.
  await done;
  const controllerSeconds = (performance.now() - t1) / 1000;
  const controllerCpu = cpuSeconds(ctl.pid) - cpu0;
  watcher.stop();
  // Spec passes and live polls while creating: what the controller's CPU was spent on.
  const passes = await fetch(`http://127.0.0.1:${port}/metrics`)
    .then((r) => r.text())
    .then((t) => ({
      reconciles: sumOf(t, 'controller_runtime_reconcile_total'),
      polls: mtx.polls(),
    }))
    .catch(() => ({ reconciles: Number.NaN, polls: Number.NaN }));
  const [cms, deps, secrets] = await Promise.all([
    listAll('/api/v1/namespaces/ctl/configmaps', 'vstream.io/livestream'),
    listAll('/apis/apps/v1/namespaces/ctl/deployments', 'vstream.io/livestream'),
    listAll('/api/v1/namespaces/ctl/secrets', 'vstream.io/livestream'),
  ]);
  const generated = [...Array(N).keys()].filter((i) => kindOf(i) !== 'custom-secret').length;
  if (cms.items.length !== N || deps.items.length !== N || secrets.items.length !== N + generated)
    throw new Error('children missing after all statuses were written');
  const writes = (await serverWrites()) - c0 - N; // minus the bench's own creates
  log(
    `controller: ${controllerSeconds.toFixed(1)}s (${controllerCpu.toFixed(1)} s CPU), ${(writes / N).toFixed(2)} writes/stream; idling ${IDLE}s`,
  );
  phase = 'going-live';
  // What kube-controller-manager would report once each pod is up (the fast tier runs none): every Deployment
  // Available, so every stream goes Live (the fake MediaMTX reports a publisher) and idle, edits and churn below are
  // measured with live streams, whose status carries live state and viewers.
  await pool(deps.items, C, (d) =>
    kube.mergePatch(`${resourcePath('apps/v1', 'Deployment', 'ctl', d.metadata.name)}/status`, {
      status: { conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }] },
    }),
  );
  await waitUntil(
    'every stream Live',
    async () =>
      (await listAll(`/apis/${API_VERSION}/namespaces/ctl/livestreams`)).items.filter(
        (o) => (o as unknown as LiveStream).status?.live === true,
      ).length === N,
    300_000 * Math.max(1, N / 1000),
    N > 1000 ? 10_000 : 2000,
  );
  log('every stream is Live');
  await new Promise((r) => setTimeout(r, 5000)); // let in-flight events settle before counting idle writes
  phase = 'idle';
  const i0 = await serverWritesByResource();
  const polls0 = mtx.polls();
  await new Promise((r) => setTimeout(r, IDLE * 1000));
  const idleByResource = diff(await serverWritesByResource(), i0);
  const idleWrites = Object.values(idleByResource).reduce((a, b) => a + b, 0);
  const pollsPerSecond = (mtx.polls() - polls0) / IDLE;
  log(`idle: ${idleWrites} writes ${JSON.stringify(idleByResource)}; live loop ${pollsPerSecond.toFixed(0)} polls/s`);

  // Spec edits while every stream is live-polled: patch one stream, time until its ConfigMap shows the change.
  phase = 'edits';
  const edits: number[] = [];
  const cmWatch = new Informer(
    kube,
    { name: 'bench-cm', path: '/api/v1/namespaces/ctl/configmaps', labelSelector: 'vstream.io/livestream' },
    pino({ level: 'warn' }),
  );
  const waiting = new Map<string, { marker: string; resolve: () => void }>();
  cmWatch.on((_t, o) => {
    const w = waiting.get(o.metadata.name);
    if (w && String((o as { data?: Record<string, string> }).data?.['mediamtx.yml']).includes(w.marker)) w.resolve();
  });
  cmWatch.start();
  await cmWatch.waitForSync();
  for (let e = 0; e < EDITS; e++) {
    const i = Math.floor(Math.random() * N);
    // A recording-segment change is applied in place (it drops nobody), so nothing holds it back.
    const marker = `${100 + e}s`;
    const seen = new Promise<void>((resolve) => waiting.set(`s${i}-mediamtx`, { marker, resolve }));
    const t = performance.now();
    await kube.mergePatch(resourcePath(API_VERSION, KIND, 'ctl', `s${i}`), {
      spec: { recording: { segmentDuration: marker } },
    });
    await seen;
    edits.push(performance.now() - t);
    waiting.delete(`s${i}-mediamtx`);
    await new Promise((r) => setTimeout(r, 50));
  }
  cmWatch.stop();
  const editP50 = percentile(edits, 50);
  const editP99 = percentile(edits, 99);
  log(
    `spec edit -> ConfigMap updated, ${EDITS} edits with ${N} streams live-polled: p50 ${editP50.toFixed(0)} ms, p99 ${editP99.toFixed(0)} ms`,
  );
  // Live-status churn: audiences that move at every poll must not become a status write per poll.
  phase = 'churn';
  mtx.state.churn = true;
  await new Promise((r) => setTimeout(r, 10_000)); // one full poll round first: the first reports go out
  const ch0 = await serverWritesByResource();
  await new Promise((r) => setTimeout(r, CHURN * 1000));
  const churnByResource = diff(await serverWritesByResource(), ch0);
  const churnWritesPerSecond = Object.values(churnByResource).reduce((a, b) => a + b, 0) / CHURN;
  log(
    `churn: ${CHURNING} live streams with moving audiences: ${churnWritesPerSecond.toFixed(2)} writes/s ${JSON.stringify(churnByResource)}`,
  );
  mtx.state.churn = false;

  clearInterval(rssTimer);
  // Where the memory sits at the end (V8 heap spaces, external, array buffers), from the controller's own metrics,
  // and resident memory split into anonymous pages (heaps, malloc) and file pages (the node binary's code and data,
  // which vary run to run with the code paths taken, not with what is held).
  const memory = await fetch(`http://127.0.0.1:${port}/metrics`)
    .then((r) => r.text())
    .then(memoryBreakdown)
    .catch(() => ({}));
  const status = readFileSync(`/proc/${ctl.pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  const residentAtEnd = {
    anon_mib: Number((kib('RssAnon') / 1024).toFixed(1)),
    file_mib: Number((kib('RssFile') / 1024).toFixed(1)),
  };
  ctl.kill('SIGTERM');
  mtx.server.close();

  // The least a stream needs: its children, its generated Secrets, one status. Averaged over the mix.
  const minimum =
    [...Array(N).keys()]
      .map((i) => {
        const r = renderStream(
          { ...stream('ctl', i), metadata: { ...stream('ctl', i).metadata, uid: 'u' } },
          { sidecarImage: SIDECAR },
        );
        return childObjects(r).length + (r.publishSecret.generated ? 2 : 1) + 1;
      })
      .reduce((a, b) => a + b, 0) / N;
  const result = {
    streams: N,
    controller_seconds: Number(controllerSeconds.toFixed(2)),
    baseline_seconds: Number(baselineSeconds.toFixed(2)),
    ratio: Number((controllerSeconds / baselineSeconds).toFixed(3)),
    // The floor: the same requests with the controller's watches open (NaN → null when --no-watched-baseline).
    baseline_with_watches_seconds: Number.isNaN(watchedBaselineSeconds)
      ? null
      : Number(watchedBaselineSeconds.toFixed(2)),
    ratio_to_baseline_with_watches: Number.isNaN(watchedBaselineSeconds)
      ? null
      : Number((controllerSeconds / watchedBaselineSeconds).toFixed(3)),
    rss_mib: Number((rssPeak / 1024).toFixed(1)),
    writes_per_stream: Number((writes / N).toFixed(3)),
    min_writes_per_stream: Number(minimum.toFixed(3)),
    idle_writes: idleWrites,
    idle_writes_by_resource: idleByResource,
    spec_edit_p99_ms_with_1000_live: Number(editP99.toFixed(1)),
    spec_edit_p99_ms: Number(editP99.toFixed(1)),
    live_status_writes_per_s_1000_live: Number(churnWritesPerSecond.toFixed(2)),
    mix: Object.fromEntries(KINDS.map((k) => [k, [...Array(N).keys()].filter((i) => kindOf(i) === k).length])),
    detail: {
      spec_edit_p50_ms: Number(editP50.toFixed(1)),
      live_streams_polled: N,
      churning_streams: CHURNING,
      churn_seconds: CHURN,
      churn_writes_by_resource: churnByResource,
      rss_mib_by_phase: rssByPhase,
      memory_mib_at_end: memory,
      resident_mib_at_end: residentAtEnd,
      controller_cpu_seconds_creating: Number(controllerCpu.toFixed(2)),
      reconciles_per_stream_creating: Number((passes.reconciles / N).toFixed(2)),
      live_polls_per_stream_creating: Number((passes.polls / N).toFixed(2)),
      spec_edits: EDITS,
      live_polls_per_second: Number(pollsPerSecond.toFixed(1)),
      node_flags: process.env.CONTROLLER_NODE_FLAGS ?? NODE_FLAGS,
      memory_saver: values['memory-saver'],
      concurrency: C,
      idle_seconds: IDLE,
      baseline_writes_per_stream: Number((baselineWrites / N - 1).toFixed(3)),
      baseline_includes: 'a read before each first create/apply (namesake check) and of each referenced Secret',
      tier: 'fast (etcd + kube-apiserver)',
      controller_build: 'compiled JavaScript, as in the image',
    },
  };
  // --streams 10000 is the scale run (its own file); anything else the default figures.
  // --no-memory-saver is the opt-out (chart memorySaver: false): its figures beside the default's, not over them.
  const file = `controller${N >= 10_000 ? '-10k' : ''}${values['memory-saver'] ? '' : '-no-memory-saver'}.json`;
  writeFileSync(join(import.meta.dirname, 'results', file), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
} finally {
  await cluster.stop();
}
