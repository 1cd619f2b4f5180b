// The chart as a user installs it (helm install, default values, by the node project's global setup), on a real
// node: the controller runs in its pod with in-cluster credentials and only the chart's RBAC; a default LiveStream
// becomes a real MediaMTX + auth sidecar pod, Ready; ffmpeg publishes through the Service with the generated token,
// and HLS plays back through the Service.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MEDIAMTX_IMAGE, VSTREAM_IMAGE } from '../../dev/images.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import { CHART_NAMESPACE } from '../setup/cluster.ts';
import { createStream, waitPhase } from '../support/controller.ts';
import { clusterIP, type Ingest, publishWhenReady } from '../support/ingest.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';
import { publishRtmp, waitPlayable } from '../support/media.ts';
import { nodeForward } from '../support/node.ts';

const c = clients();
const kube = c.kube;
let ns: string;
let ingest: Ingest | undefined;

interface Pod {
  metadata: { name: string };
  spec: {
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
    containers: { name: string; image: string; args?: string[] }[];
    initContainers?: { name: string; image: string; restartPolicy?: string }[];
  };
  status: {
    phase: string;
    containerStatuses?: { name: string; ready: boolean; imageID: string }[];
    initContainerStatuses?: { name: string; ready: boolean; started?: boolean }[];
  };
}

beforeAll(async () => {
  ns = await freshNamespace(c.core, 'ls');
});

afterAll(async () => {
  await ingest?.publisher.stop();
});

describe('the chart on a real node', () => {
  it('runs the controller in its pods, from the image built here, under the chart’s ServiceAccount', async () => {
    console.log(`[node] helm install --wait took ${inject('chartInstallSeconds').toFixed(1)}s`);
    const pods = await kube.list(`/api/v1/namespaces/${CHART_NAMESPACE}/pods`, {
      labelSelector: 'app.kubernetes.io/name=vstream',
    });
    expect(pods.items.length).toBe(2);
    for (const p of pods.items as unknown as Pod[]) {
      expect(p.status.phase).toBe('Running');
      expect(p.spec.serviceAccountName).toBe('vstream');
      expect(p.spec.containers[0]!.image).toBe(VSTREAM_IMAGE);
      expect(p.status.containerStatuses?.[0]?.ready).toBe(true);
    }
    // One of them leads, through a Lease the chart's Role allows it to hold.
    const lease = await kube.get<{ spec: { holderIdentity?: string } }>(
      resourcePath('coordination.k8s.io/v1', 'Lease', CHART_NAMESPACE, 'vstream-controller'),
    );
    expect(lease.spec.holderIdentity).toMatch(/^vstream-/);
  });

  it('turns a default LiveStream into a Ready stream pod with real MediaMTX and sidecar containers', async () => {
    const applied = Date.now();
    await createStream(kube, ns, 'lobby');
    await waitPhase(kube, ns, 'lobby', 'Ready', 180_000);
    console.log(`[node] apply -> phase Ready: ${Date.now() - applied}ms`);
    const pods = await kube.list(`/api/v1/namespaces/${ns}/pods`, { labelSelector: 'vstream.io/livestream=lobby' });
    const pod = pods.items[0] as unknown as Pod;
    expect(pod.status.phase).toBe('Running');
    expect(pod.spec.containers.map((x) => [x.name, x.image])).toEqual([['mediamtx', MEDIAMTX_IMAGE]]);
    // The auth sidecar is a native sidecar: kubelet started MediaMTX only after its startup probe passed.
    expect(pod.spec.initContainers?.map((x) => [x.name, x.image, x.restartPolicy])).toEqual([
      ['auth', VSTREAM_IMAGE, 'Always'],
    ]);
    expect(pod.status.containerStatuses?.every((s) => s.ready)).toBe(true);
    expect(pod.status.initContainerStatuses?.find((s) => s.name === 'auth')).toMatchObject({ ready: true });
  });

  it('takes ffmpeg’s RTMP publish through the Service with the token from <name>-publish, and serves HLS', async () => {
    const started = Date.now();
    ingest = await publishWhenReady(kube, nodeForward, ns, 'lobby', { since: started, timeoutMs: 60_000 });
    console.log(`[node] publish accepted through the Service ${ingest.ms}ms after ffmpeg's first try`);
    const hls = await nodeForward(await clusterIP(kube, ns, 'lobby'), 8888);
    const play = await waitPlayable(`http://127.0.0.1:${hls}`, ingest.path, {}, started);
    expect(play.media).toContain('#EXTINF');
    console.log(`[node] ffmpeg's first try -> playable HLS through the Service: ${play.ms}ms`);
  });

  it('reports live in status: the controller reached MediaMTX’s API by the metrics Service’s DNS name', async () => {
    const live = await waitUntil(
      'status live',
      async () => {
        const s = await kube.get<{ status?: { live?: boolean; phase?: string; viewers?: number } }>(
          resourcePath('vstream.io/v1alpha1', 'LiveStream', ns, 'lobby'),
        );
        return s.status?.live && s;
      },
      90_000,
      500,
    );
    expect(live.status?.phase).toBe('Live');
  });

  it('refuses a publish with a wrong token', async () => {
    const wrong = ingest!.url.replace(/token=[^&]+/, 'token=wrong-token-0123456789abcdef');
    const p = publishRtmp(wrong, 10);
    expect(await p.exited).not.toBe(0);
    expect(ingest!.publisher.proc.exitCode).toBeNull();
  });
});
