// Where the e2e suite finds a stream's pod: the local pod runner (this machine), or a real cluster through
// port-forwards (kind, with the chart installed: test/e2e/kind/run.sh). The suite is written against this interface
// only, so both paths run the same tests.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { KubeConfig, PortForward } from '@kubernetes/client-node';
import type { PodRunner } from '../../dev/pod-runner.ts';
import type { ApiLocator } from '../../src/controller/mediamtx-probe.ts';
import { type Kube, type KubeObject, resourcePath } from '../../src/kube/rest.ts';
import { AUTH_HOOK_PORT } from '../../src/render/ports.ts';

export interface PodView {
  /** Port name (rtmp, hls, metrics, api, auth-metrics, auth-hook, ...) -> a port on 127.0.0.1. */
  ports: Record<string, number>;
  /** Changes when the pod is replaced (a rollout). */
  identity: string;
}

export interface StreamHost {
  readonly kind: 'local' | 'cluster';
  /** For a controller the test runs itself: where each stream's MediaMTX API is (local only). */
  readonly locator?: ApiLocator;
  pod(namespace: string, name: string): Promise<PodView | undefined>;
  /** Recording segments of a path, or undefined when they cannot be observed (cluster, pod gone). */
  recordings(namespace: string, name: string, path: string): Promise<string[] | undefined>;
  mediamtxLog(namespace: string, name: string): Promise<string>;
  stop(): Promise<void>;
}

export class LocalHost implements StreamHost {
  readonly kind = 'local';
  readonly locator: ApiLocator;
  private readonly runner: PodRunner;

  constructor(runner: PodRunner) {
    this.runner = runner;
    this.locator = (ns, name) => {
      const e = runner.endpoints(ns, name);
      return e ? `http://127.0.0.1:${e.ports.api}` : undefined;
    };
  }

  async pod(ns: string, name: string) {
    const e = this.runner.endpoints(ns, name);
    return e && { ports: e.ports, identity: String(e.pids.mediamtx) };
  }

  async recordings(ns: string, name: string, path: string) {
    const dir = join(this.runner.pvcDir(ns, `${name}-recordings`), path);
    return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.mp4')) : [];
  }

  async mediamtxLog(ns: string, name: string) {
    const e = this.runner.endpoints(ns, name);
    return e ? readFileSync(join(e.dir, 'logs', 'mediamtx.log'), 'utf8') : '';
  }

  stop() {
    return this.runner.stop();
  }
}

/** A real cluster: the first Ready pod of the stream, every container port (and the loopback auth hook) forwarded. */
export class ClusterHost implements StreamHost {
  readonly kind = 'cluster';
  private readonly forward: PortForward;
  private readonly forwards = new Map<string, { view: PodView; servers: Server[] }>();
  private readonly kube: Kube;

  constructor(kube: Kube, kubeconfig: string) {
    this.kube = kube;
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    this.forward = new PortForward(kc);
  }

  private async readyPod(ns: string, name: string): Promise<KubeObject | undefined> {
    const pods = await this.kube.list(`/api/v1/namespaces/${ns}/pods`, {
      labelSelector: `vstream.io/livestream=${name}`,
    });
    return pods.items.find((p) => {
      const st = p.status as { phase?: string; conditions?: { type: string; status: string }[] } | undefined;
      return (
        !p.metadata.deletionTimestamp &&
        st?.phase === 'Running' &&
        st.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
      );
    });
  }

  async pod(ns: string, name: string): Promise<PodView | undefined> {
    const pod = await this.readyPod(ns, name);
    if (!pod) return undefined;
    const uid = pod.metadata.uid!;
    const cached = this.forwards.get(uid);
    if (cached) return cached.view;
    type C = { ports?: { name: string; containerPort: number; protocol?: string }[] };
    const spec = pod.spec as { initContainers?: C[]; containers: C[] };
    // The auth sidecar is a native sidecar: its ports are on an init container.
    const containers = [...(spec.initContainers ?? []), ...spec.containers];
    const targets = containers.flatMap((c) => (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP'));
    targets.push({ name: 'auth-hook', containerPort: AUTH_HOOK_PORT });
    const view: PodView = { ports: {}, identity: uid };
    const servers: Server[] = [];
    for (const t of targets) {
      const server = createServer((socket) => {
        void this.forward
          .portForward(ns, pod.metadata.name, [t.containerPort], socket, null, socket)
          .then((ws) => {
            // client-node writes the pod's bytes to the socket but never ends it: when the pod side closes the
            // connection (kubelet closes the WebSocket), close ours, or a client never learns it was cut off.
            (ws as unknown as { on(e: 'close', f: () => void): void }).on('close', () => socket.destroy());
          })
          .catch(() => socket.destroy());
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      view.ports[t.name] = (server.address() as { port: number }).port;
      servers.push(server);
    }
    this.forwards.set(uid, { view, servers });
    return view;
  }

  async recordings(ns: string, name: string, path: string) {
    const view = await this.pod(ns, name);
    if (!view) return undefined;
    const secret = await this.kube.get<{ data: Record<string, string> }>(
      resourcePath('v1', 'Secret', ns, `${name}-internal`),
    );
    const token = Buffer.from(secret.data['api-token']!, 'base64').toString('utf8');
    const res = await fetch(`http://127.0.0.1:${view.ports.api}/v3/recordings/get/${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!res.ok) return [];
    const body = (await res.json()) as { segments?: { start: string }[] };
    return (body.segments ?? []).map((s) => s.start);
  }

  async mediamtxLog(ns: string, name: string) {
    const pod = await this.readyPod(ns, name);
    if (!pod) return '';
    const res = await this.kube.raw('GET', `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}/log`, {
      query: { container: 'mediamtx' },
    });
    return res.text();
  }

  async stop() {
    for (const { servers } of this.forwards.values()) for (const s of servers) s.close();
  }
}
