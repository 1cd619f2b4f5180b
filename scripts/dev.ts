// `npm run dev`: the whole product on this machine. Builds what is missing, starts a local control plane, installs
// the CRD, runs the operator and a local "kubelet" for stream pods, applies an example LiveStream, and prints what
// a streamer and a viewer need. Ctrl-C stops everything.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { freePort, startCluster } from '../dev/cluster.ts';
import { PodRunner } from '../dev/pod-runner.ts';
import { REPO_ROOT } from '../dev/tools.ts';
import { liveStreamCrd } from '../src/api/crd.ts';
import { API_VERSION, type LiveStream } from '../src/api/livestream.ts';
import { runController } from '../src/controller/main.ts';
import { Kube, type KubeObject, resourcePath } from '../src/kube/rest.ts';
import { generateViewerKeys, parseSigningKey, signViewerToken } from '../src/token/viewer.ts';
import { devInstructions } from './dev-instructions.ts';
import { ensureSystemPackages } from './system-deps.ts';

const say = (s: string) => console.log(`\x1b[1m[vstream]\x1b[0m ${s}`);
const state = join(REPO_ROOT, '.vstream');
mkdirSync(state, { recursive: true });

// The printed test-pattern command needs ffmpeg: install it now (root + apt-get) or say that it is missing.
ensureSystemPackages(['ffmpeg']);
say('building the local control plane and MediaMTX if missing (the first run compiles from Go modules: ~10 min)');
const build = spawnSync('bash', [join(REPO_ROOT, 'tools/build.sh'), 'kube', 'etcd', 'kwok', 'mediamtx'], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (build.status !== 0) process.exit(build.status ?? 1);

say('starting etcd, kube-apiserver, controller-manager, scheduler and kwok');
const cluster = await startCluster({ tier: 'full', dir: join(state, `cluster-${Date.now()}`) });
writeFileSync(
  join(state, 'kubeconfig'),
  JSON.stringify(JSON.parse((await import('node:fs')).readFileSync(cluster.kubeconfig, 'utf8'))),
);
say(
  `control plane ready in ${(cluster.startMs / 1000).toFixed(1)}s; kubeconfig: .vstream/kubeconfig (component logs: ${cluster.logsDir})`,
);

const kube = await Kube.load(cluster.kubeconfig);
await kube.apply(liveStreamCrd() as unknown as KubeObject, 'vstream-dev');
for (let i = 0; i < 50; i++) {
  const crd = await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/livestreams.vstream.io',
  );
  if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
  await new Promise((r) => setTimeout(r, 100));
}

const logFile = join(state, 'operator.log');
const log = pino({ level: 'info' }, pino.destination({ dest: logFile, sync: false }));
const runner = new PodRunner(kube, join(state, 'pods'), log);
await runner.start();
const ctl = await runController({
  kubeconfig: cluster.kubeconfig,
  sidecarImage: 'local/vstream:dev',
  metricsAddr: `127.0.0.1:${await freePort()}`,
  log,
  probe: (ns, name) => {
    const e = runner.endpoints(ns, name);
    return e ? `http://127.0.0.1:${e.ports.api}` : undefined;
  },
});
say(
  `operator running (logs: .vstream/operator.log, metrics: http://${ctl.opsAddr.replace(/^https?:\/\//, '')}/metrics)`,
);

// Viewer keys: the private half stays here, the public JWKS goes into the Secret the LiveStream names.
const { privateJwk, jwks } = await generateViewerKeys('ES256');
writeFileSync(join(state, 'viewer-private.jwk.json'), JSON.stringify(privateJwk), { mode: 0o600 });
const ns = 'demo';
await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch(() => {});
await kube
  .create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'viewer-keys', namespace: ns },
    stringData: { 'jwks.json': JSON.stringify(jwks) },
  })
  .catch(() => {});
const issuer = 'https://id.vstream.local';
const stream = {
  apiVersion: API_VERSION,
  kind: 'LiveStream',
  metadata: { name: 'keynote', namespace: ns },
  spec: {
    ingest: { protocols: ['rtmp', 'srt'] },
    playback: { protocols: ['hls', 'webrtc'], access: 'jwt', jwt: { issuer, keysSecretRef: { name: 'viewer-keys' } } },
    recording: { enabled: true, segmentDuration: '1m', retention: '24h' },
  },
};
await kube.apply(stream as KubeObject, 'vstream-dev');
say('applied LiveStream demo/keynote; waiting for it to become Ready');

let ls: LiveStream | undefined;
for (let i = 0; i < 600; i++) {
  ls = await kube.get<LiveStream>(resourcePath(API_VERSION, 'LiveStream', ns, 'keynote'));
  if (ls.status?.phase === 'Ready' && runner.endpoints(ns, 'keynote')) break;
  await new Promise((r) => setTimeout(r, 100));
}
const e = runner.endpoints(ns, 'keynote');
if (!ls?.status || !e) {
  say(`the stream did not become ready; status: ${JSON.stringify(ls?.status?.conditions ?? [])}`);
  process.exit(1);
}
const secret = await kube.get<{ data: { token: string } }>(resourcePath('v1', 'Secret', ns, 'keynote-publish'));
const token = Buffer.from(secret.data.token, 'base64').toString('utf8').trim();
const viewer = await signViewerToken({
  paths: [ls.status.path!],
  issuer,
  audience: 'vstream',
  ttlSeconds: 3600,
  key: await parseSigningKey(JSON.stringify(privateJwk)),
});
const server = `rtmp://127.0.0.1:${e.ports.rtmp}/live`;
const hls = `http://127.0.0.1:${e.ports.hls}/${ls.status.path}/index.m3u8`;
console.log(
  devInstructions({
    phase: ls.status.phase ?? 'Ready',
    clusterServer: ls.status.ingest?.rtmp?.server,
    server,
    streamKey: 'keynote',
    token,
    hls,
    viewer,
    recordings: runner.pvcDir(ns, 'keynote-recordings'),
  }),
);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  say('stopping');
  await ctl.shutdown();
  await runner.stop();
  await cluster.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
if (process.env.VSTREAM_DEV_EXIT_AFTER_READY) await stop();
