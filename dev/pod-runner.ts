// Test and dev infrastructure, not product code: does for vstream's stream pods what a kubelet would, using local
// processes. For every Deployment the operator creates it
//   - materialises the ConfigMap and Secret volumes as directories with kubelet's layout (files are symlinks into
//     ..data, which points at a timestamped dir and is swapped atomically on change, so MediaMTX's hot reload and
//     the sidecar's file watching are exercised exactly as in a pod),
//   - backs each PersistentVolumeClaim with a directory that outlives the stream (like a PV),
//   - starts the containers: MediaMTX (the binary built from its Go module) and `vstream auth`,
//   - gives every port a free loopback port (MediaMTX via its MTX_* env overrides), which endpoints() reports,
//   - restarts the "pod" when the Deployment's pod template changes, and stops it when the Deployment goes.
// It does not emulate: the container images themselves, users/UIDs and the read-only root filesystem, resource
// limits, probes, networking between pods, or Service load balancing (the test talks to the mapped ports).
// Mount paths inside files (/config, /var/run/vstream, /recordings) are rewritten to the materialised dirs.
// kwok keeps the pods' status in the API server.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Informer } from '../src/controller/informer.ts';
import type { Kube, KubeObject } from '../src/kube/rest.ts';
import { MANAGED_BY } from '../src/render/names.ts';
import { freePort } from './cluster.ts';
import { REPO_ROOT, toolPath } from './tools.ts';

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { name: string; containerPort: number; protocol: string }[];
  volumeMounts?: { name: string; mountPath: string }[];
  /** On an init container: Always makes it a native sidecar. */
  restartPolicy?: string;
  startupProbe?: { httpGet?: { path: string; port: string } };
}
interface Volume {
  name: string;
  configMap?: { name: string };
  secret?: { secretName: string; items?: { key: string; path: string }[]; optional?: boolean };
  persistentVolumeClaim?: { claimName: string };
  emptyDir?: object;
}
interface PodSpec {
  initContainers?: Container[];
  containers: Container[];
  volumes: Volume[];
}

export interface Endpoints {
  /** Service port name -> local port (rtmp, hls, webrtc, rtsp, api, metrics, auth-metrics, ...). */
  ports: Record<string, number>;
  pids: Record<string, number>;
  dir: string;
}

interface RunningPod {
  templateHash: string;
  procs: { name: string; child: ChildProcess }[];
  endpoints: Endpoints;
  volumeDirs: Map<string, { source: string; dir: string }>;
  sourceDigests: Map<string, string>;
  /** Rewrites container mount paths inside file contents to the materialised directories. */
  rewrite: (text: string) => string;
}

const ENV_FOR_PORT: Record<string, string> = {
  rtmp: 'MTX_RTMPADDRESS',
  rtmps: 'MTX_RTMPSADDRESS',
  rtsp: 'MTX_RTSPADDRESS',
  rtsps: 'MTX_RTSPSADDRESS',
  hls: 'MTX_HLSADDRESS',
  webrtc: 'MTX_WEBRTCADDRESS',
  'webrtc-ice': 'MTX_WEBRTCLOCALUDPADDRESS',
  'webrtc-ice-tcp': 'MTX_WEBRTCLOCALTCPADDRESS',
  srt: 'MTX_SRTADDRESS',
  api: 'MTX_APIADDRESS',
  metrics: 'MTX_METRICSADDRESS',
  playback: 'MTX_PLAYBACKADDRESS',
};

export class PodRunner {
  private readonly pods = new Map<string, RunningPod>();
  private readonly deployments: Informer;
  private readonly configMaps: Informer;
  private readonly secrets: Informer;
  private readonly pvcs: Informer;
  private readonly kube: Kube;
  private readonly root: string;
  private readonly log: Logger;
  private queue = Promise.resolve();

  constructor(kube: Kube, root: string, log: Logger) {
    this.kube = kube;
    this.root = root;
    this.log = log.child({ component: 'pod-runner' });
    const sel = `app.kubernetes.io/managed-by=${MANAGED_BY}`;
    this.deployments = new Informer(
      kube,
      { name: 'runner-deployments', path: '/apis/apps/v1/deployments', labelSelector: sel },
      log,
    );
    this.configMaps = new Informer(
      kube,
      { name: 'runner-configmaps', path: '/api/v1/configmaps', labelSelector: sel },
      log,
    );
    this.secrets = new Informer(kube, { name: 'runner-secrets', path: '/api/v1/secrets' }, log);
    this.pvcs = new Informer(
      kube,
      { name: 'runner-pvcs', path: '/api/v1/persistentvolumeclaims', labelSelector: sel },
      log,
    );
  }

  async start(): Promise<void> {
    for (const i of [this.deployments, this.configMaps, this.secrets, this.pvcs]) {
      i.on(() => this.sync());
      i.start();
    }
    await Promise.all([
      this.deployments.waitForSync(),
      this.configMaps.waitForSync(),
      this.secrets.waitForSync(),
      this.pvcs.waitForSync(),
    ]);
    this.sync();
  }

  private readonly heldVolumes = new Set<string>();

  /**
   * Stops (or resumes) bringing ConfigMap and Secret changes into a running pod: models kubelet's propagation delay
   * (up to about a minute), so a test can show that something works without waiting for it.
   */
  holdVolumeUpdates(namespace: string, name: string, hold: boolean): void {
    const key = `${namespace}/${name}`;
    if (hold) this.heldVolumes.add(key);
    else {
      this.heldVolumes.delete(key);
      this.sync();
    }
  }

  endpoints(namespace: string, name: string): Endpoints | undefined {
    return this.pods.get(`${namespace}/${name}`)?.endpoints;
  }

  /** The directory backing a PersistentVolumeClaim (kept after the claim's stream is gone). */
  pvcDir(namespace: string, claim: string): string {
    return join(this.root, 'pv', namespace, claim);
  }

  private sync(): void {
    this.queue = this.queue
      .then(() => this.syncNow())
      .catch((e) => this.log.error({ error: (e as Error).message }, 'sync failed'));
  }

  private async syncNow(): Promise<void> {
    await this.provisionVolumes();
    const want = new Map(this.deployments.list().map((d) => [`${d.metadata.namespace}/${d.metadata.name}`, d]));
    for (const [key, pod] of this.pods) {
      const d = want.get(key);
      if (!d || templateHash(d) !== pod.templateHash) await this.stopPod(key);
    }
    for (const [key, d] of want) {
      const pod = this.pods.get(key);
      if (!pod) await this.startPod(key, d);
      // A held pod keeps its files as they are, as kubelet does for up to about a minute after a ConfigMap changes.
      else if (!this.heldVolumes.has(key)) this.refreshVolumes(pod, d.metadata.namespace!);
    }
  }

  /** A local-path provisioner: a hostPath PersistentVolume per pending claim, bound through claimRef. */
  private async provisionVolumes(): Promise<void> {
    for (const pvc of this.pvcs.list()) {
      const spec = pvc.spec as {
        volumeName?: string;
        storageClassName?: string;
        accessModes: string[];
        resources: { requests: { storage: string } };
      };
      if (spec.volumeName || pvc.metadata.deletionTimestamp) continue;
      const ns = pvc.metadata.namespace!;
      const name = `pv-${ns}-${pvc.metadata.name}`.slice(0, 253);
      const dir = this.pvcDir(ns, pvc.metadata.name);
      mkdirSync(dir, { recursive: true });
      try {
        await this.kube.create({
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: { name, labels: { 'vstream.io/local-pv': 'true' } },
          spec: {
            capacity: { storage: spec.resources.requests.storage },
            accessModes: spec.accessModes,
            persistentVolumeReclaimPolicy: 'Retain',
            storageClassName: spec.storageClassName ?? '',
            hostPath: { path: dir },
            claimRef: { namespace: ns, name: pvc.metadata.name, uid: pvc.metadata.uid },
          },
        });
      } catch (e) {
        if ((e as { status?: number }).status !== 409)
          this.log.warn({ pv: name, error: (e as Error).message }, 'cannot provision');
      }
    }
  }

  /** Native sidecars (init containers with restartPolicy Always) first, then the containers, as kubelet starts them. */
  private podSpec(d: KubeObject): PodSpec & { sidecars: Set<string> } {
    const s = (d.spec as { template: { spec: PodSpec } }).template.spec;
    const native = (s.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
    return { ...s, containers: [...native, ...s.containers], sidecars: new Set(native.map((c) => c.name)) };
  }

  private async startPod(key: string, d: KubeObject): Promise<void> {
    const ns = d.metadata.namespace!;
    const spec = this.podSpec(d);
    const dir = join(this.root, 'pods', ns, `${d.metadata.name}-${templateHash(d).slice(0, 8)}`);
    mkdirSync(dir, { recursive: true });
    const pod: RunningPod = {
      templateHash: templateHash(d),
      procs: [],
      endpoints: { ports: {}, pids: {}, dir },
      volumeDirs: new Map(),
      sourceDigests: new Map(),
      rewrite: (t) => t,
    };
    // Volumes whose source is missing keep the pod from starting, as kubelet would (ContainerCreating).
    for (const v of spec.volumes) {
      if (v.configMap && !this.configMaps.get(ns, v.configMap.name)) return;
      if (v.secret && !v.secret.optional && !this.secrets.get(ns, v.secret.secretName)) return;
    }
    const mountMap: [string, string][] = [];
    for (const v of spec.volumes) {
      let target: string;
      if (v.persistentVolumeClaim) target = this.pvcDir(ns, v.persistentVolumeClaim.claimName);
      else if (v.emptyDir) target = join(dir, 'empty', v.name);
      else {
        target = join(dir, 'volumes', v.name);
        pod.volumeDirs.set(v.name, {
          source: v.configMap ? `cm/${v.configMap.name}` : `secret/${v.secret!.secretName}`,
          dir: target,
        });
      }
      mkdirSync(target, { recursive: true });
      for (const c of spec.containers)
        for (const m of c.volumeMounts ?? []) if (m.name === v.name) mountMap.push([m.mountPath, target]);
    }
    const uniqueMounts = [...new Map(mountMap).entries()].sort((a, b) => b[0].length - a[0].length);
    const rewrite = (text: string) => uniqueMounts.reduce((t, [from, to]) => t.replaceAll(`${from}/`, `${to}/`), text);
    pod.rewrite = rewrite;
    this.refreshVolumes(pod, ns);

    for (const c of spec.containers) for (const p of c.ports ?? []) pod.endpoints.ports[p.name] = await freePort();
    const authPort = await freePort();
    pod.endpoints.ports['auth-hook'] = authPort;
    const logs = join(dir, 'logs');
    mkdirSync(logs, { recursive: true });
    for (const c of spec.containers) {
      const args = (c.args ?? []).map(rewrite);
      let cmd: string;
      let argv: string[];
      const env: NodeJS.ProcessEnv = { ...process.env };
      // The container's own environment, with mount paths rewritten like file contents; the port map wins.
      for (const e of c.env ?? []) env[e.name] = rewrite(e.value ?? '');
      if (c.name === 'mediamtx') {
        cmd = toolPath('mediamtx');
        argv = args;
        for (const p of c.ports ?? []) {
          const envName = ENV_FOR_PORT[p.name];
          if (envName) env[envName] = `127.0.0.1:${pod.endpoints.ports[p.name]}`;
        }
        env.MTX_AUTHHTTPADDRESS = `http://127.0.0.1:${authPort}/auth`;
      } else if (c.name === 'auth') {
        cmd = process.execPath;
        argv = [
          join(REPO_ROOT, 'src/cli.ts'),
          ...args,
          '--listen',
          `127.0.0.1:${authPort}`,
          '--ops-listen',
          `127.0.0.1:${pod.endpoints.ports['auth-metrics']}`,
          '--mediamtx-api',
          `http://127.0.0.1:${pod.endpoints.ports.api}`,
          ...(pod.endpoints.ports.thumbnail
            ? ['--thumbnail-listen', `127.0.0.1:${pod.endpoints.ports.thumbnail}`]
            : []),
        ];
      } else if (c.name === 'media') {
        // `vstream media` (thumbnail keyframes) with the pod's mapped RTMP and API ports.
        cmd = process.execPath;
        argv = [
          join(REPO_ROOT, 'src/cli.ts'),
          ...args,
          '--source',
          `rtmp://127.0.0.1:${pod.endpoints.ports.rtmp}`,
          '--mediamtx-api',
          `http://127.0.0.1:${pod.endpoints.ports.api}`,
        ];
      } else if (c.name === 'thumbnail') {
        // The ffmpeg loop, run by this machine's sh and ffmpeg (the image is MediaMTX's ffmpeg variant).
        const command = (c.command ?? []).map(rewrite);
        cmd = command[0]!;
        argv = command.slice(1);
      } else continue;
      const workDir = join(dir, 'empty', 'work');
      mkdirSync(workDir, { recursive: true });
      const entry = { name: c.name, child: undefined as unknown as ChildProcess };
      const launch = () => {
        const child = spawn(cmd, argv, { cwd: workDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
        const out = createWriteStream(join(logs, `${c.name}.log`), { flags: 'a' });
        child.stdout?.pipe(out);
        child.stderr?.pipe(out);
        child.on('exit', (code, sig) => {
          this.log.info({ pod: key, container: c.name, code, sig }, 'container exited');
          // kubelet restarts a native sidecar (restartPolicy Always) that exits while the pod runs, at once the
          // first time; the pod is still ours when stopPod has not taken it away.
          if (spec.sidecars.has(c.name) && this.pods.get(key) === pod) {
            this.log.info({ pod: key, container: c.name }, 'restarting native sidecar');
            launch();
          }
        });
        entry.child = child;
        pod.endpoints.pids[c.name] = child.pid ?? 0;
        return child;
      };
      const child = launch();
      pod.procs.push(entry);
      // kubelet starts the next container only once a native sidecar's startup probe passes.
      const probe = c.startupProbe?.httpGet;
      if (spec.sidecars.has(c.name) && probe)
        await waitHttpOk(`http://127.0.0.1:${pod.endpoints.ports[probe.port]}${probe.path}`, child);
    }
    this.pods.set(key, pod);
    this.log.info({ pod: key, ports: pod.endpoints.ports }, 'pod started');
  }

  /** Writes volume contents kubelet-style; swaps ..data only when the source changed. */
  private refreshVolumes(pod: RunningPod, ns: string): void {
    const { rewrite } = pod;
    for (const [, { source, dir }] of pod.volumeDirs) {
      const [kind, name] = source.split('/') as [string, string];
      const obj = kind === 'cm' ? this.configMaps.get(ns, name) : this.secrets.get(ns, name);
      if (!obj) continue;
      const files: Record<string, string> =
        kind === 'cm'
          ? Object.fromEntries(
              Object.entries((obj.data as Record<string, string>) ?? {}).map(([k, v]) => [k, rewrite(v)]),
            )
          : Object.fromEntries(
              Object.entries((obj.data as Record<string, string>) ?? {}).map(([k, v]) => [
                k,
                Buffer.from(v, 'base64').toString('utf8'),
              ]),
            );
      const digest = createHash('sha256').update(JSON.stringify(files)).digest('hex');
      if (pod.sourceDigests.get(dir) === digest) continue;
      pod.sourceDigests.set(dir, digest);
      atomicWriteDir(dir, files);
    }
  }

  private async stopPod(key: string): Promise<void> {
    const pod = this.pods.get(key);
    if (!pod) return;
    this.pods.delete(key);
    await Promise.all(
      pod.procs.map(
        ({ child }) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const t = setTimeout(() => child.kill('SIGKILL'), 5000);
            child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
    this.log.info({ pod: key }, 'pod stopped');
  }

  async stop(): Promise<void> {
    for (const i of [this.deployments, this.configMaps, this.secrets, this.pvcs]) i.stop();
    await this.queue;
    for (const key of [...this.pods.keys()]) await this.stopPod(key);
  }
}

/** The pod is "the same pod" as long as its template is: a template change is a rollout. */
function templateHash(d: KubeObject): string {
  return createHash('sha256')
    .update(JSON.stringify((d.spec as { template: unknown }).template))
    .digest('hex');
}

/** kubelet's AtomicWriter layout: <dir>/..<ts>/files, <dir>/..data -> ..<ts>, <dir>/<file> -> ..data/<file>. */
export function atomicWriteDir(dir: string, files: Record<string, string>): void {
  const stamp = `..${Date.now()}_${Math.random().toString(36).slice(2, 8)}`;
  mkdirSync(join(dir, stamp), { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, stamp, name), content, { mode: 0o640 });
  const tmpLink = join(dir, '..data_tmp');
  rmSync(tmpLink, { force: true });
  symlinkSync(stamp, tmpLink);
  renameSync(tmpLink, join(dir, '..data'));
  // Like kubelet, drop the previous generations once ..data points at the new one.
  for (const entry of readdirSync(dir))
    if (entry.startsWith('..') && entry !== stamp && entry !== '..data')
      rmSync(join(dir, entry), { recursive: true, force: true });
  for (const name of Object.keys(files)) {
    try {
      symlinkSync(join('..data', name), join(dir, name));
    } catch {
      // already linked through ..data
    }
  }
}

/** Polls a startup probe until it answers 2xx (at most 30 s, or until the process exits). */
async function waitHttpOk(url: string, child: ChildProcess): Promise<void> {
  const until = Date.now() + 30_000;
  while (Date.now() < until && child.exitCode === null && child.signalCode === null) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.body?.cancel();
      if (r.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
}
