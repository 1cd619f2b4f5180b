// Real-node figures (`npm run bench:node`, writes bench/results/node.json):
//   tier_start_cold_s   node tier start with no image built (images built: tsc, Debian packages, layers; then imported)
//   tier_start_warm_s   the same with the images cached (median of --warm runs): what every test run pays
//   image_*_mib         compressed size of the images (what a registry stores and a node pulls)
//   apply_to_ingest_*   create a default LiveStream -> ffmpeg's RTMP publish accepted through its Service, with the
//                       chart's controller in its pod and images present, one stream after another (--streams)
//   podrunner_*         the same against the full tier's local pod runner and an in-process controller (the stand-in)
// Each stream's publisher is started as a streamer's client would: retried until MediaMTX has the path ready.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { installChart } from '../dev/chart.ts';
import { type Cluster, freePort, startCluster } from '../dev/cluster.ts';
import { mib, nodeImages } from '../dev/images.ts';
import { PodRunner } from '../dev/pod-runner.ts';
import { REPO_ROOT } from '../dev/tools.ts';
import { liveStreamCrd } from '../src/api/crd.ts';
import { API_VERSION } from '../src/api/livestream.ts';
import { runController } from '../src/controller/main.ts';
import { Kube, type KubeObject } from '../src/kube/rest.ts';
import { publishToken, publishWhenReady, until } from '../test/support/ingest.ts';
import { httpGet, publishRtmp } from '../test/support/media.ts';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '10' },
    warm: { type: 'string', default: '3' },
    'skip-cold': { type: 'boolean', default: false },
    'skip-podrunner': { type: 'boolean', default: false },
  },
});
const STREAMS = Number(values.streams);
const secs = (ms: number) => Math.round(ms / 10) / 100;
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};
const median = (xs: number[]) => quantile(xs, 0.5);
const log = (s: string) => console.error(`[bench:node] ${s}`);

async function timedStart(): Promise<{ cluster: Cluster; s: number }> {
  const t = Date.now();
  const cluster = await startCluster({ tier: 'node' });
  return { cluster, s: (Date.now() - t) / 1000 };
}

async function createStream(kube: Kube, ns: string, name: string) {
  await kube.create({
    apiVersion: API_VERSION,
    kind: 'LiveStream',
    metadata: { name, namespace: ns },
    spec: {},
  } as KubeObject);
}

async function namespace(kube: Kube, name: string) {
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } } as KubeObject);
  await until(
    'default ServiceAccount',
    () => kube.getOrUndefined(`/api/v1/namespaces/${name}/serviceaccounts/default`),
    60_000,
  );
}

// 1. tier start, cold (no images) and warm
let cold: number | undefined;
if (!values['skip-cold']) {
  const imageCache = mkdtempSync(join(tmpdir(), 'vstream-bench-images-'));
  process.env.VSTREAM_IMAGE_CACHE = imageCache;
  const { cluster, s } = await timedStart();
  await cluster.stop();
  delete process.env.VSTREAM_IMAGE_CACHE;
  rmSync(imageCache, { recursive: true, force: true });
  cold = s;
  log(`cold start (images built from nothing): ${s.toFixed(1)}s`);
}
const images = await nodeImages();
const warm: number[] = [];
let cluster: Cluster | undefined;
for (let i = 0; i < Number(values.warm); i++) {
  const r = await timedStart();
  warm.push(r.s);
  log(`warm start ${i + 1}: ${r.s.toFixed(1)}s`);
  if (i < Number(values.warm) - 1) await r.cluster.stop();
  else cluster = r.cluster;
}

// 2. apply -> ingest on the real node, chart installed as a user would
const applyToIngest: number[] = [];
let chartInstallS = 0;
try {
  const c = cluster!;
  const t = Date.now();
  installChart(c.kubeconfig);
  chartInstallS = (Date.now() - t) / 1000;
  const kube = await Kube.load(c.kubeconfig);
  await namespace(kube, 'bench');
  for (let i = 0; i < STREAMS; i++) {
    const name = `s${i}`;
    const applied = Date.now();
    await createStream(kube, 'bench', name);
    const ingest = await publishWhenReady(kube, c.node!.forward, 'bench', name, { since: applied, timeoutMs: 180_000 });
    await ingest.publisher.stop();
    applyToIngest.push(ingest.ms);
    log(`${name}: apply -> publish accepted ${ingest.ms}ms (${ingest.attempts} ffmpeg attempts)`);
  }
} finally {
  await cluster?.stop();
}

// 3. the same with the stand-in: full tier, local pod runner, controller in this process
const podRunner: number[] = [];
if (!values['skip-podrunner']) {
  const full = await startCluster({ tier: 'full' });
  const dir = mkdtempSync(join(tmpdir(), 'vstream-bench-pods-'));
  const quiet = pino({ level: 'warn' }, pino.destination({ dest: join(dir, 'log'), sync: false }));
  let runner: PodRunner | undefined;
  let ctl: Awaited<ReturnType<typeof runController>> | undefined;
  try {
    const kube = await Kube.load(full.kubeconfig);
    await kube.apply(liveStreamCrd() as unknown as KubeObject, 'bench');
    await until(
      'CRD established',
      async () =>
        (
          await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
            '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/livestreams.vstream.io',
          )
        ).status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'),
      30_000,
    );
    runner = new PodRunner(kube, dir, quiet);
    await runner.start();
    const r = runner;
    ctl = await runController({
      kubeconfig: full.kubeconfig,
      sidecarImage: 'ghcr.io/vstream/vstream:bench',
      metricsAddr: `127.0.0.1:${await freePort()}`,
      log: quiet,
      probe: (ns, name) => {
        const e = r.endpoints(ns, name);
        return e ? `http://127.0.0.1:${e.ports.api}` : undefined;
      },
    });
    await namespace(kube, 'bench');
    for (let i = 0; i < STREAMS; i++) {
      const name = `s${i}`;
      const applied = Date.now();
      await createStream(kube, 'bench', name);
      const e = await until('pod runner endpoints', async () => r.endpoints('bench', name), 60_000, 50);
      const token = await until('publish token', () => publishToken(kube, 'bench', name), 60_000, 50);
      const path = `live/${name}`;
      let pub = publishRtmp(`rtmp://127.0.0.1:${e.ports.rtmp}/${path}?token=${token}`, 60);
      const ready = `paths{name="${path}",state="ready"} 1`;
      await until(
        'publish accepted',
        async () => {
          if (pub.proc.exitCode !== null)
            pub = publishRtmp(`rtmp://127.0.0.1:${e.ports.rtmp}/${path}?token=${token}`, 60);
          return (await httpGet(`http://127.0.0.1:${e.ports.metrics}/metrics`)).body.includes(ready);
        },
        60_000,
      );
      podRunner.push(Date.now() - applied);
      await pub.stop();
      log(`${name} (pod runner): apply -> publish accepted ${podRunner.at(-1)}ms`);
    }
  } finally {
    await ctl?.shutdown();
    await runner?.stop();
    await full.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const vstream = images.find((i) => i.name.includes('/vstream:'))!;
const mediamtx = images.find((i) => i.name.includes('mediamtx'))!;
const result = {
  ...(cold !== undefined ? { tier_start_cold_s: secs(cold * 1000) } : {}),
  tier_start_warm_s: secs(median(warm) * 1000),
  image_vstream_mib: mib(vstream.compressedBytes),
  image_mediamtx_mib: mib(mediamtx.compressedBytes),
  apply_to_ingest_p50_s: secs(median(applyToIngest)),
  apply_to_ingest_p95_s: secs(quantile(applyToIngest, 0.95)),
  ...(podRunner.length
    ? {
        podrunner_apply_to_ingest_p50_s: secs(median(podRunner)),
        podrunner_apply_to_ingest_p95_s: secs(quantile(podRunner, 0.95)),
      }
    : {}),
  detail: {
    streams: STREAMS,
    tier_start_warm_runs_s: warm.map((s) => secs(s * 1000)),
    apply_to_ingest_ms: applyToIngest,
    podrunner_apply_to_ingest_ms: podRunner,
    chart_install_wait_s: secs(chartInstallS * 1000),
    image_vstream_uncompressed_mib: mib(vstream.uncompressedBytes),
    image_mediamtx_uncompressed_mib: mib(mediamtx.uncompressedBytes),
    cold_means: 'no image built: tsc, Debian packages downloaded (apt), layers, then import',
    warm_means: 'images cached in ~/.cache/vstream/images: containerd started empty, images imported, node Ready',
    machine: '2 cores, cgroup v1, everything in its own network/mount/PID namespaces',
  },
};
writeFileSync(join(REPO_ROOT, 'bench/results/node.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
