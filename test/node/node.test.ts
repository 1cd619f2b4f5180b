// The node tier itself: a real kubelet with containerd and runc runs a restricted pod from an image built here, its
// probe makes it Ready, kube-proxy routes its ClusterIP and a NodePort on the node's 127.0.0.1, CoreDNS answers for
// Services, and a claim of the default StorageClass gets a volume.
import { beforeAll, describe, expect, it } from 'vitest';
import { MEDIAMTX_IMAGE } from '../../dev/images.ts';
import { NODE_IP, NODE_NAME } from '../../dev/node.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';
import { httpGet } from '../support/media.ts';
import { nodeExec, nodeForward } from '../support/node.ts';

const c = clients();
const kube = c.kube;
let ns: string;

interface PodStatus {
  phase?: string;
  podIP?: string;
  conditions?: { type: string; status: string }[];
  containerStatuses?: { name: string; ready: boolean; state?: Record<string, { reason?: string; message?: string }> }[];
}

beforeAll(async () => {
  ns = await freshNamespace(c.core, 'node');
});

describe('the real node', () => {
  it('is a Ready node: kubelet and containerd report their versions and the node address', async () => {
    const node = await kube.get<{
      status: {
        nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string };
        addresses: { type: string; address: string }[];
        conditions: { type: string; status: string }[];
      };
    }>(`/api/v1/nodes/${NODE_NAME}`);
    expect(node.status.conditions.find((x) => x.type === 'Ready')?.status).toBe('True');
    expect(node.status.nodeInfo.kubeletVersion).toBe('v1.36.3');
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/v?2\.4\.2$/);
    expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: NODE_IP });
  });

  let podIP = '';
  it('runs a restricted pod from an image built here, Ready by its TCP probe', async () => {
    await kube.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'restricted', namespace: ns, labels: { app: 'restricted' } },
      spec: {
        securityContext: {
          runAsNonRoot: true,
          runAsUser: 65532,
          runAsGroup: 65532,
          fsGroup: 65532,
          seccompProfile: { type: 'RuntimeDefault' },
        },
        containers: [
          {
            name: 'mediamtx',
            image: MEDIAMTX_IMAGE,
            imagePullPolicy: 'IfNotPresent',
            ports: [{ name: 'hls', containerPort: 8888 }],
            readinessProbe: { tcpSocket: { port: 'hls' }, periodSeconds: 1 },
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
            volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
          },
        ],
        volumes: [{ name: 'scratch', emptyDir: {} }],
      },
    } as never);
    const pod = await waitUntil(
      'pod Ready',
      async () => {
        const p = await kube.get<{ status: PodStatus }>(resourcePath('v1', 'Pod', ns, 'restricted'));
        const waiting = p.status.containerStatuses?.[0]?.state?.waiting;
        if (waiting?.reason && /Err|Back|Invalid/.test(waiting.reason))
          throw new Error(`${waiting.reason}: ${waiting.message}`);
        return p.status.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') && p;
      },
      90_000,
      250,
    );
    podIP = pod.status.podIP!;
    expect(podIP).toMatch(/^10\.244\.0\./);
  });

  /** PID (on the node) of this test pod's MediaMTX: the process whose cgroup is the pod's. */
  const mediamtxPid = async () => {
    const pod = await kube.get(resourcePath('v1', 'Pod', ns, 'restricted'));
    const pids = await nodeExec([
      'sh',
      '-c',
      `for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = mediamtx ] && grep -q "pod${pod.metadata.uid}" $p/cgroup && echo $p | cut -d/ -f3; done; true`,
    ]);
    expect(pids.trim().split('\n')).toHaveLength(1);
    return pids.trim();
  };

  it('runs it as 65532 with no capabilities, a seccomp filter and no_new_privs (read from /proc on the node)', async () => {
    const out = await nodeExec([
      'grep',
      '-E',
      '^(Uid|Gid|CapEff|NoNewPrivs|Seccomp):',
      `/proc/${await mediamtxPid()}/status`,
    ]);
    expect(out).toMatch(/^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
    expect(out).toMatch(/^Gid:\s+65532\s/m);
    expect(out).toMatch(/^CapEff:\s+0000000000000000$/m);
    expect(out).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(out).toMatch(/^Seccomp:\s+2$/m);
  });

  it('mounts its root file system read-only', async () => {
    const mounts = await nodeExec(['cat', `/proc/${await mediamtxPid()}/mounts`]);
    expect(mounts).toMatch(/^overlay \/ overlay ro[,\s]/m);
  });

  it('routes the pod IP, its ClusterIP Service and a NodePort on the node’s 127.0.0.1', async () => {
    const svc = await kube.create<{ spec: { clusterIP: string; ports: { nodePort: number }[] } }>({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'restricted', namespace: ns },
      spec: {
        type: 'NodePort',
        selector: { app: 'restricted' },
        ports: [{ name: 'hls', port: 80, targetPort: 'hls' }],
      },
    } as never);
    expect(svc.spec.clusterIP).toMatch(/^10\.96\./);
    const answers = async (port: number) => (await httpGet(`http://127.0.0.1:${port}/`)).status;
    // MediaMTX answers any HTTP request on its HLS port (404 for /): an answer is what proves the route.
    expect(await answers(await nodeForward(podIP, 8888))).toBeGreaterThanOrEqual(200);
    const viaClusterIP = await nodeForward(svc.spec.clusterIP, 80);
    await waitUntil('ClusterIP answers', async () => (await answers(viaClusterIP)) >= 200, 30_000, 250);
    const viaNodePort = await nodeForward('127.0.0.1', svc.spec.ports[0]!.nodePort);
    await waitUntil('NodePort on 127.0.0.1 answers', async () => (await answers(viaNodePort)) >= 200, 30_000, 250);
  });

  it('resolves Services by name through the cluster DNS', async () => {
    const script = `const r=new (require('node:dns').promises.Resolver)();r.setServers(['${NODE_IP}']);r.resolve4('restricted.${ns}.svc.cluster.local').then(a=>console.log(a.join(',')),e=>{console.error(e.message);process.exit(1)})`;
    const svc = await kube.get<{ spec: { clusterIP: string } }>(resourcePath('v1', 'Service', ns, 'restricted'));
    expect((await nodeExec([process.execPath, '-e', script])).trim()).toBe(svc.spec.clusterIP);
  });

  it('binds a claim of the default StorageClass to a local volume', async () => {
    await kube.create({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: ns },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    } as never);
    const pvc = await waitUntil(
      'claim Bound',
      async () => {
        const p = await kube.get<{ spec: { storageClassName?: string }; status?: { phase?: string } }>(
          resourcePath('v1', 'PersistentVolumeClaim', ns, 'data'),
        );
        return p.status?.phase === 'Bound' && p;
      },
      30_000,
    );
    expect(pvc.spec.storageClassName).toBe('standard');
  });
});
