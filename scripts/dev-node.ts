// `npm run dev:node` (as root): the product as a user runs it, on a real node built here. Builds what is missing,
// starts the node tier (kubelet + containerd, images built without Docker), installs the chart with helm, applies a
// default LiveStream and prints an ingest URL and an HLS URL on 127.0.0.1 that lead to its Service. Ctrl-C stops it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installChart } from '../dev/chart.ts';
import { startCluster } from '../dev/cluster.ts';
import { REPO_ROOT, toolPath } from '../dev/tools.ts';
import { API_VERSION, type LiveStream } from '../src/api/livestream.ts';
import { Kube, type KubeObject, resourcePath } from '../src/kube/rest.ts';
import { clusterIP, publishToken } from '../test/support/ingest.ts';
import { ensureSystemPackages } from './system-deps.ts';

const say = (s: string) => console.log(`\x1b[1m[vstream]\x1b[0m ${s}`);
if (process.getuid?.() !== 0) {
  say('the real node needs root (network, mount and PID namespaces, cgroups); try `npm run dev` for the local one');
  process.exit(1);
}
const state = join(REPO_ROOT, '.vstream');
mkdirSync(state, { recursive: true });
ensureSystemPackages(); // iptables, conntrack (the node), libseccomp-dev + gcc (runc), ffmpeg
say('building what is missing (a first run compiles the control plane and the node from Go modules: ~15 min)');
const families = ['kube', 'etcd', 'helm', 'mediamtx', 'node', 'containerd', 'runc', 'cni', 'coredns', 'pause'];
const build = spawnSync('bash', [join(REPO_ROOT, 'tools/build.sh'), ...families], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (build.status !== 0) process.exit(build.status ?? 1);

say('starting the control plane and a real node (kubelet, containerd, runc, CNI, CoreDNS), building its images');
const cluster = await startCluster({ tier: 'node', dir: join(state, `node-${Date.now()}`) });
writeFileSync(join(state, 'kubeconfig'), readFileSync(cluster.kubeconfig));
say(`node Ready in ${(cluster.startMs / 1000).toFixed(1)}s; kubeconfig: .vstream/kubeconfig; logs: ${cluster.logsDir}`);
const stop = async () => {
  say('stopping');
  await cluster.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

installChart(cluster.kubeconfig);
say('chart installed: the controller runs in its pods');
const kube = await Kube.load(cluster.kubeconfig);
await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } } as KubeObject).catch(() => {});
await kube.create({
  apiVersion: API_VERSION,
  kind: 'LiveStream',
  metadata: { name: 'town-hall', namespace: 'demo' },
  spec: {},
} as KubeObject);
let ls: LiveStream | undefined;
for (let i = 0; i < 1200 && ls?.status?.phase !== 'Ready'; i++) {
  await new Promise((r) => setTimeout(r, 100));
  ls = await kube.get<LiveStream>(resourcePath(API_VERSION, 'LiveStream', 'demo', 'town-hall'));
}
if (ls?.status?.phase !== 'Ready') {
  say(`the stream did not become Ready: ${JSON.stringify(ls?.status?.conditions ?? [])}`);
  await stop();
}
const ip = await clusterIP(kube, 'demo', 'town-hall');
const [rtmp, hls] = [await cluster.node!.forward(ip, 1935), await cluster.node!.forward(ip, 8888)];
const token = await publishToken(kube, 'demo', 'town-hall');
const server = `rtmp://127.0.0.1:${rtmp}/live`;
console.log(`
  LiveStream demo/town-hall is Ready on a real node. In the cluster it is ${ls?.status?.ingest?.rtmp?.server};
  here its Service ${ip} is relayed to 127.0.0.1:

  OBS  Server ${server}   Stream Key town-hall?token=${token}
  ffmpeg -re -f lavfi -i testsrc=size=1280x720:rate=30 -f lavfi -i sine -c:v libx264 -preset veryfast \\
    -tune zerolatency -g 60 -pix_fmt yuv420p -c:a aac -f flv '${server}/town-hall?token=${token}'
  Watch: http://127.0.0.1:${hls}/live/town-hall/index.m3u8

  Helm: ${toolPath('helm')} --kubeconfig .vstream/kubeconfig -n vstream-system status vstream
  Ctrl-C stops everything (the node's namespaces, mounts, rules and cgroups go with it).
`);
if (process.env.VSTREAM_DEV_EXIT_AFTER_READY) await stop();
