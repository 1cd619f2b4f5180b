// Proves the local control plane is real: CRD + CEL on a real API server, GC, Deployments with Ready pods via kwok.
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { startCluster } from '../../dev/cluster.ts';
import { toolPath } from '../../dev/tools.ts';
import { API_VERSION, GROUP, PLURAL, VERSION } from '../../src/api/livestream.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import { INVALID } from '../cases/invalid-livestreams.ts';
import { installCrd } from '../support/crd.ts';
import { clients, errorBody, freshNamespace, waitUntil } from '../support/kube.ts';

const c = clients();
let ns: string;

beforeAll(async () => {
  await installCrd(c.kube);
  ns = await freshNamespace(c.core, 'cp');
});

const liveStream = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: API_VERSION,
  kind: 'LiveStream',
  metadata: { name, namespace: ns },
  spec,
});
const create = (body: object) =>
  c.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, body });

describe('the LiveStream CRD on a real API server', () => {
  it('is Established and serves the status subresource and printer columns', async () => {
    const crd = await c.ext.readCustomResourceDefinition({ name: `${PLURAL}.${GROUP}` });
    expect(crd.status?.conditions?.find((x) => x.type === 'Established')?.status).toBe('True');
    expect(crd.spec.versions[0]?.subresources?.status).toEqual({});
  });

  it('applies defaults on create', async () => {
    const got = (await create(liveStream('defaults', {}))) as { spec: Record<string, any> };
    expect(got.spec.ingest.protocols).toEqual(['rtmp']);
    expect(got.spec.playback).toMatchObject({ protocols: ['hls'], access: 'public', allowedOrigins: ['*'] });
    expect(got.spec.recording).toMatchObject({ enabled: false, reclaimPolicy: 'Retain', segmentDuration: '1h' });
  });

  it(`rejects ${INVALID.length} invalid LiveStreams, naming the field`, async () => {
    expect(INVALID.length).toBeGreaterThanOrEqual(15);
    const failures: string[] = [];
    for (const [i, tc] of INVALID.entries()) {
      try {
        await create(liveStream(tc.name ?? `invalid-${i}`, tc.spec));
        failures.push(`${tc.title}: accepted`);
      } catch (e) {
        const body = errorBody(e);
        for (const want of tc.expect) if (!body.includes(want)) failures.push(`${tc.title}: "${want}" not in ${body}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('keeps storageClassName immutable (a CEL transition rule)', async () => {
    await create(liveStream('immutable', { recording: { enabled: true, storage: { storageClassName: 'standard' } } }));
    const patch = c.kube.mergePatch(resourcePath(API_VERSION, 'LiveStream', ns, 'immutable'), {
      spec: { recording: { storage: { storageClassName: 'fast' } } },
    });
    await expect(patch).rejects.toSatisfy((e) =>
      errorBody(e).includes('spec.recording.storage.storageClassName is immutable once set'),
    );
  });

  it('lets spec.recording.storage.size grow and rejects shrinking it (CEL quantity compare)', async () => {
    await create(liveStream('growing', { recording: { enabled: true, storage: { size: '10Gi' } } }));
    const path = resourcePath(API_VERSION, 'LiveStream', ns, 'growing');
    await c.kube.mergePatch(path, { spec: { recording: { storage: { size: '20Gi' } } } });
    await expect(c.kube.mergePatch(path, { spec: { recording: { storage: { size: '19000Mi' } } } })).rejects.toSatisfy(
      (e) => errorBody(e).includes('spec.recording.storage.size') && errorBody(e).includes('may grow but not shrink'),
    );
  });
});

describe('the full tier', () => {
  it('runs a Deployment to Ready pods through kube-controller-manager, the scheduler and kwok', async () => {
    if (inject('clusterTier') === 'existing') return;
    await c.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'web', image: 'example.invalid/web:1' }] },
          },
        },
      },
    });
    const d = await waitUntil('2 ready replicas', async () => {
      const d = await c.apps.readNamespacedDeployment({ name: 'web', namespace: ns });
      return d.status?.readyReplicas === 2 && d;
    });
    expect(d.status?.availableReplicas).toBe(2);
    const pods = await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
    expect(pods.items.map((p) => p.status?.phase)).toEqual(['Running', 'Running']);
  });

  it('garbage-collects the children of a deleted owner', async () => {
    const owner = await c.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner' } } });
    await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'child',
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }],
        },
      },
    });
    await c.core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns });
    await waitUntil('child collected', async () => {
      const list = await c.core.listNamespacedConfigMap({ namespace: ns, fieldSelector: 'metadata.name=child' });
      return list.items.length === 0;
    });
  });
});

describe('the tools', () => {
  it('report their real versions (helm kubeVersion checks parse gitVersion)', async () => {
    const { body } = await import('../../dev/cluster.ts').then((m) =>
      m.httpsGet(`${inject('clusterServer')}/version`, inject('clusterToken')),
    );
    if (inject('clusterTier') !== 'existing') expect(JSON.parse(body).gitVersion).toMatch(/^v1\.36\.\d+$/);
    const helm = spawnSync(toolPath('helm'), ['version', '--short'], { encoding: 'utf8' });
    expect(helm.stdout).toMatch(/^v3\.\d+\.\d+/);
  });

  it('helm template renders a chart', () => {
    const r = spawnSync(toolPath('helm'), ['template', 'probe', 'test/fixtures/probe-chart'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('kind: ConfigMap');
    expect(r.stdout).toContain('name: probe-config');
  });

  it('starts a fast tier (etcd + kube-apiserver) on its own ports', async () => {
    if (inject('clusterTier') === 'existing') return;
    const fast = await startCluster({ tier: 'fast' });
    try {
      console.log(`[cluster] fast tier ready in ${fast.startMs}ms`);
      expect(fast.server).not.toBe(inject('clusterServer'));
    } finally {
      await fast.stop();
    }
  });
});
