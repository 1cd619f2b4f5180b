// The controller against a real API server with kube-controller-manager, scheduler and kwok (full tier).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConditionType, Reason } from '../../src/api/conditions.ts';
import type { LiveStream } from '../../src/api/livestream.ts';
import type { runController } from '../../src/controller/main.ts';
import { isNotFound, type KubeObject, resourcePath } from '../../src/kube/rest.ts';
import { names } from '../../src/render/names.ts';
import { createStream, inProcessController, logLines, streamPath, waitPhase } from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';

const c = clients();
const kube = c.kube;
let ns: string;
let ctl: Awaited<ReturnType<typeof runController>>;
const existing = inject('clusterTier') === 'existing';

beforeAll(async () => {
  await installCrd(kube);
  ns = await freshNamespace(c.core, 'ctl');
  ctl = await inProcessController();
});
afterAll(async () => {
  await ctl?.shutdown();
});

const get = <T = KubeObject>(kind: string, name: string, apiVersion = 'v1') =>
  kube.get<T>(resourcePath(apiVersion, kind, ns, name));
const gone = async (kind: string, name: string, apiVersion = 'v1') => {
  try {
    await get(kind, name, apiVersion);
    return false;
  } catch (e) {
    return isNotFound(e);
  }
};
/** Waits until the controller has nothing queued or running, twice in a row (events may still be arriving). */
async function settle() {
  for (let i = 0; i < 2; i++) {
    await new Promise((r) => setTimeout(r, 300));
    await ctl.queue.idle();
  }
}

describe('reconciling a LiveStream', () => {
  it('creates every child, owned by the stream, and reports Ready with endpoints', async () => {
    await createStream(kube, ns, 'alpha', {
      ingest: { protocols: ['rtmp', 'srt'] },
      playback: { protocols: ['hls', 'webrtc'] },
    });
    const ls = await waitPhase(kube, ns, 'alpha', 'Ready');
    const n = names('alpha');
    for (const [kind, name, av] of [
      ['ConfigMap', n.configMap, 'v1'],
      ['Service', n.service, 'v1'],
      ['Service', n.metricsService, 'v1'],
      ['Deployment', n.deployment, 'apps/v1'],
      ['Secret', n.publishSecret, 'v1'],
      ['Secret', n.internalSecret, 'v1'],
    ] as const) {
      const o = await get(kind, name, av);
      expect(o.metadata.ownerReferences?.[0]).toMatchObject({
        kind: 'LiveStream',
        name: 'alpha',
        uid: ls.metadata.uid,
        controller: true,
      });
    }
    expect(ls.status).toMatchObject({
      phase: 'Ready',
      path: 'live/alpha',
      live: false,
      ingest: {
        rtmp: { server: `rtmp://alpha.${ns}.svc:1935/live`, streamKey: 'alpha' },
        srt: `srt://alpha.${ns}.svc:8890?streamid=publish:live/alpha`,
        publishTokenSecretRef: { name: 'alpha-publish', key: 'token' },
      },
      playback: { hls: `http://alpha.${ns}.svc:8888/live/alpha/index.m3u8` },
    });
    const conds = Object.fromEntries((ls.status?.conditions ?? []).map((x) => [x.type, x]));
    expect(conds.Ready).toMatchObject({
      status: 'True',
      reason: 'Available',
      observedGeneration: ls.metadata.generation,
    });
    expect(conds.Reconciled).toMatchObject({ status: 'True' });
    expect(conds.SecretsResolved).toMatchObject({ status: 'True' });
  });

  it('makes zero write requests when nothing changed', async () => {
    await settle();
    const before = kube.writes;
    const serverBefore = await serverWrites();
    for (const ls of ctl.caches.streams.list()) ctl.queue.add(`${ls.metadata.namespace}/${ls.metadata.name}`);
    await settle();
    expect(kube.writes - before).toBe(0);
    if (!existing) expect((await serverWrites()) - serverBefore).toBe(0);
  });

  it('repairs a deleted ConfigMap and a hand-edited Deployment', async () => {
    const n = names('alpha');
    await kube.delete(resourcePath('v1', 'ConfigMap', ns, n.configMap));
    await waitUntil('ConfigMap restored', async () => (await get('ConfigMap', n.configMap)).data);
    await kube.mergePatch(resourcePath('apps/v1', 'Deployment', ns, n.deployment), {
      spec: { template: { spec: { containers: [{ name: 'mediamtx', image: 'evil.example/mediamtx:latest' }] } } },
    });
    await waitUntil('image restored', async () => {
      const d = await get<{ spec: { template: { spec: { containers: { name: string; image: string }[] } } } }>(
        'Deployment',
        n.deployment,
        'apps/v1',
      );
      return (
        d.spec.template.spec.containers.find((x) => x.name === 'mediamtx')?.image ===
        'docker.io/bluenviron/mediamtx:1.20.1'
      );
    });
  });

  it('never replaces a generated publish token', async () => {
    const path = resourcePath('v1', 'Secret', ns, names('alpha').publishSecret);
    const mine = Buffer.from('hand-set-token-0123456789').toString('base64');
    await kube.mergePatch(path, { data: { token: mine } });
    await kube.mergePatch(streamPath(ns, 'alpha'), {
      metadata: { labels: { touched: 'yes' } },
      spec: { playback: { allowedOrigins: ['https://a.example'] } },
    });
    await waitPhase(kube, ns, 'alpha', 'Ready');
    await settle();
    expect((await kube.get<{ data: { token: string } }>(path)).data.token).toBe(mine);
  });

  it('rolls the pod only for restart-relevant changes', async () => {
    const hash = async () =>
      (
        await get<{ spec: { template: { metadata: { annotations: Record<string, string> } } } }>(
          'Deployment',
          'alpha',
          'apps/v1',
        )
      ).spec.template.metadata.annotations['vstream.io/restart-hash'];
    const h0 = await hash();
    await kube.mergePatch(streamPath(ns, 'alpha'), { spec: { playback: { allowedOrigins: ['https://b.example'] } } });
    await waitUntil('ConfigMap updated', async () =>
      (await get<{ data: Record<string, string> }>('ConfigMap', names('alpha').configMap)).data[
        'mediamtx.yml'
      ]!.includes('https://b.example'),
    );
    expect(await hash()).toBe(h0);
    await kube.mergePatch(streamPath(ns, 'alpha'), { spec: { ingest: { protocols: ['rtmp', 'srt', 'rtsp'] } } });
    await waitUntil('hash changed', async () => (await hash()) !== h0);
  });
});

/** Write requests the controller sent, by "METHOD resource[/subresource]", from now until `stop()`. */
function countWrites() {
  const counts: Record<string, number> = {};
  const raw = ctl.kube.raw.bind(ctl.kube);
  ctl.kube.raw = (method, path, opts) => {
    if (method !== 'GET') {
      const m = /\/(?:api\/v1|apis\/[^/]+\/[^/]+)(?:\/namespaces\/[^/]+)?\/([a-z]+)(?:\/[^/]+(?:\/([a-z]+))?)?/.exec(
        path,
      );
      const k = `${method} ${m?.[1]}${m?.[2] ? `/${m[2]}` : ''}`;
      counts[k] = (counts[k] ?? 0) + 1;
    }
    return raw(method, path, opts);
  };
  return {
    counts,
    stop: () => {
      ctl.kube.raw = raw;
    },
  };
}

describe('ownership, removals and idle writes', () => {
  it('a user Service with a stream’s name is a NameConflict: untouched, not adopted, not collected', async () => {
    const mine = await c.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'shop', annotations: { team: 'web' } }, spec: { ports: [{ port: 80 }] } },
    });
    await createStream(kube, ns, 'shop');
    const failed = await waitPhase(kube, ns, 'shop', 'Failed');
    const cond = failed.status?.conditions?.find((x) => x.type === ConditionType.Reconciled);
    expect(cond).toMatchObject({ status: 'False', reason: Reason.NameConflict });
    expect(cond?.message).toContain(`Service ${ns}/shop`);
    const svc = await get('Service', 'shop');
    expect(svc.metadata.resourceVersion).toBe(mine.metadata?.resourceVersion);
    expect(svc.metadata.ownerReferences).toBeUndefined();
    expect(await gone('Deployment', 'shop', 'apps/v1')).toBe(true);
    const events = await waitUntil('NameConflict event', async () => {
      const list = await kube.list(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
      return list.items.find(
        (e) => e.reason === Reason.NameConflict && (e.regarding as { name: string }).name === 'shop',
      );
    });
    expect(events.type).toBe('Warning');

    // Deleting the stream must not take the user's Service with it.
    await kube.delete(streamPath(ns, 'shop'));
    await waitUntil('ConfigMap of shop collected', () => gone('ConfigMap', 'shop-mediamtx'));
    expect((await get('Service', 'shop')).metadata.resourceVersion).toBe(mine.metadata?.resourceVersion);

    // A conflict resolves by itself once the user's object is gone.
    await createStream(kube, ns, 'shop');
    await waitPhase(kube, ns, 'shop', 'Failed');
    await kube.delete(resourcePath('v1', 'Service', ns, 'shop'));
    const ready = await waitPhase(kube, ns, 'shop', 'Ready', 90_000);
    expect(ready.status?.conditions?.find((x) => x.type === ConditionType.Reconciled)?.status).toBe('True');
    expect((await get('Service', 'shop')).metadata.ownerReferences?.[0]?.uid).toBe(ready.metadata.uid);
  });

  it('fields removed from the spec disappear from the children', async () => {
    await createStream(kube, ns, 'rm', {
      service: { type: 'LoadBalancer', annotations: { 'lb.example/internal': 'true' }, externalTrafficPolicy: 'Local' },
      mediamtx: { resources: { limits: { memory: '1Gi' }, requests: { cpu: 1 } } },
    });
    await waitPhase(kube, ns, 'rm', 'Ready');
    type Svc = { metadata: KubeObject['metadata']; spec: { externalTrafficPolicy?: string } };
    type Dep = { spec: { template: { spec: { containers: { name: string; resources: Record<string, unknown> }[] } } } };
    expect((await get<Svc>('Service', 'rm')).metadata.annotations?.['lb.example/internal']).toBe('true');
    await kube.request('PUT', streamPath(ns, 'rm'), {
      body: { ...(await kube.get(streamPath(ns, 'rm'))), spec: { service: { type: 'LoadBalancer' } } },
    });
    await waitUntil('annotation and limit removed', async () => {
      const svc = await get<Svc>('Service', 'rm');
      const d = await get<Dep>('Deployment', 'rm', 'apps/v1');
      const res = d.spec.template.spec.containers.find((x) => x.name === 'mediamtx')?.resources ?? {};
      return (
        svc.metadata.annotations?.['lb.example/internal'] === undefined &&
        svc.spec.externalTrafficPolicy !== 'Local' &&
        res.limits === undefined
      );
    });
    const ls = await waitPhase(kube, ns, 'rm', 'Ready');
    expect(ls.status?.conditions?.find((x) => x.type === ConditionType.Reconciled)?.status).toBe('True');
  });

  it('every kind of stream settles to zero writes of any kind', async () => {
    const { exportJWK, generateKeyPair } = await import('jose');
    const pair = await generateKeyPair('ES256', { extractable: true });
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'mix-keys' },
        stringData: { 'jwks.json': JSON.stringify({ keys: [await exportJWK(pair.publicKey)] }) },
      },
    });
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'mix-tokens' }, stringData: { token: 'mix-token-0123456789abcdef' } },
    });
    const mix: Record<string, Record<string, unknown>> = {
      'mix-retain': { recording: { enabled: true, reclaimPolicy: 'Retain', storage: { size: '1.5Gi' } } },
      'mix-delete': { recording: { enabled: true, reclaimPolicy: 'Delete', storage: { size: 1073741824 } } },
      'mix-jwt': {
        playback: { access: 'jwt', jwt: { issuer: 'https://id.example', keysSecretRef: { name: 'mix-keys' } } },
      },
      'mix-secret': { ingest: { publishTokenSecretRef: { name: 'mix-tokens' } } },
      'mix-lb': { service: { type: 'LoadBalancer', annotations: { a: 'b' } } },
      'mix-quantities': { mediamtx: { resources: { requests: { cpu: '0.5', memory: '0.5Gi' }, limits: { cpu: 2 } } } },
    };
    for (const [name, spec] of Object.entries(mix)) await createStream(kube, ns, name, spec);
    for (const name of Object.keys(mix)) await waitPhase(kube, ns, name, ['Ready', 'Pending']);
    await settle();
    await new Promise((r) => setTimeout(r, 2000));
    await settle();
    const w = countWrites();
    const serverBefore = await serverWrites();
    try {
      for (const name of Object.keys(mix)) ctl.queue.add(`${ns}/${name}`);
      await settle();
      for (const name of Object.keys(mix)) ctl.queue.add(`${ns}/${name}`);
      await settle();
    } finally {
      w.stop();
    }
    expect(w.counts).toEqual({});
    if (!existing) expect((await serverWrites()) - serverBefore).toBe(0);
  });

  it('never loses a spec edit that lands while a pass is running', async () => {
    await createStream(kube, ns, 'edits');
    await waitPhase(kube, ns, 'edits', 'Ready');
    for (let i = 0; i < 15; i++) {
      await kube.mergePatch(streamPath(ns, 'edits'), {
        spec: { playback: { allowedOrigins: [`https://edit-${i}.example`] } },
      });
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 60));
    }
    await waitUntil(
      'last edit rendered',
      async () =>
        (await get<{ data: Record<string, string> }>('ConfigMap', 'edits-mediamtx')).data['mediamtx.yml']!.includes(
          'https://edit-14.example',
        ),
      30_000,
    );
    const ls = await waitPhase(kube, ns, 'edits', 'Ready');
    expect(ls.status?.observedGeneration).toBe(ls.metadata.generation);
  });
});

describe('the controller process', () => {
  it('serves /readyz, /livez and controller-runtime-named metrics', async () => {
    const base = ctl.opsAddr;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    for (const name of [
      'controller_runtime_reconcile_total{controller="livestream",result="success"}',
      'controller_runtime_reconcile_time_seconds_bucket',
      'workqueue_depth{name="livestream"}',
      'workqueue_adds_total{name="livestream"}',
      'leader_election_master_status{name="vstream-controller"} 1',
    ]) {
      expect(metrics).toContain(name);
    }
    await waitUntil(
      'phase gauge',
      async () => (await (await fetch(`${base}/metrics`)).text()).includes('vstream_livestreams{phase="Ready"}'),
      15_000,
    );
  });
});

describe('Secrets', () => {
  it('reports a missing Secret as a condition, holds the Deployment back, and recovers when it appears', async () => {
    await createStream(kube, ns, 'beta', {
      ingest: { publishTokenSecretRef: { name: 'beta-tokens', key: 'tokens' } },
      playback: { access: 'jwt', jwt: { issuer: 'https://id.example', keysSecretRef: { name: 'beta-viewer-keys' } } },
    });
    const failed = await waitPhase(kube, ns, 'beta', 'Failed');
    const cond = failed.status?.conditions?.find((x) => x.type === 'SecretsResolved');
    expect(cond).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    expect(cond?.message).toContain('spec.ingest.publishTokenSecretRef');
    expect(await gone('Deployment', 'beta', 'apps/v1')).toBe(true);

    await c.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'beta-tokens' }, stringData: { tokens: 'beta-token-0123456789abcdef' } },
    });
    const bad = await waitUntil('jwt keys reported', async () => {
      const ls = await kube.get<LiveStream>(streamPath(ns, 'beta'));
      return ls.status?.conditions?.find(
        (x) => x.type === 'SecretsResolved' && x.message.includes('spec.playback.jwt.keysSecretRef'),
      );
    });
    expect(bad.reason).toBe('SecretNotFound');

    const secretText = '{"keys": [{"kty": "RSA", "d": "PRIVATE-PART-abcdef", "n": "x", "e": "AQAB"}]}';
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'beta-viewer-keys' }, stringData: { 'jwks.json': secretText } },
    });
    const invalid = await waitUntil('invalid keys reported', async () => {
      const ls = await kube.get<LiveStream>(streamPath(ns, 'beta'));
      return ls.status?.conditions?.find((x) => x.type === 'SecretsResolved' && x.reason === 'SecretInvalid');
    });
    expect(invalid.message).toContain('public keys only');
    expect(JSON.stringify(await kube.get(streamPath(ns, 'beta')))).not.toContain('PRIVATE-PART');

    const { exportJWK, generateKeyPair } = await import('jose');
    const pair = await generateKeyPair('ES256', { extractable: true });
    await kube.mergePatch(resourcePath('v1', 'Secret', ns, 'beta-viewer-keys'), {
      stringData: { 'jwks.json': JSON.stringify({ keys: [await exportJWK(pair.publicKey)] }) },
    });
    await waitPhase(kube, ns, 'beta', 'Ready');
  });
});

describe('recordings', () => {
  it('keeps the recordings PVC after deletion under Retain, and lets it go under Delete', async () => {
    await createStream(kube, ns, 'keep', { recording: { enabled: true, reclaimPolicy: 'Retain' } });
    await createStream(kube, ns, 'drop', { recording: { enabled: true, reclaimPolicy: 'Delete' } });
    await waitUntil(
      'PVCs',
      async () =>
        !(await gone('PersistentVolumeClaim', 'keep-recordings')) &&
        !(await gone('PersistentVolumeClaim', 'drop-recordings')),
    );
    const strategy = (await get<{ spec: { strategy: { type: string } } }>('Deployment', 'keep', 'apps/v1')).spec
      .strategy.type;
    expect(strategy).toBe('Recreate');
    await kube.delete(streamPath(ns, 'keep'));
    await kube.delete(streamPath(ns, 'drop'));
    if (existing) return;
    await waitUntil('Deployment of keep collected', () => gone('Deployment', 'keep', 'apps/v1'));
    await waitUntil('drop-recordings collected', () => gone('PersistentVolumeClaim', 'drop-recordings'));
    expect(await gone('PersistentVolumeClaim', 'keep-recordings')).toBe(false);
  });
});

describe('secrets stay out of everything the controller writes', () => {
  it('status, events and logs carry no token', async () => {
    const secrets = await c.core.listNamespacedSecret({ namespace: ns });
    const values = secrets.items
      .flatMap((s) => Object.values(s.data ?? {}).map((v) => Buffer.from(v, 'base64').toString('utf8')))
      .filter((v) => v.length >= 16);
    expect(values.length).toBeGreaterThan(3);
    const streams = JSON.stringify(await kube.list(streamPath(ns)));
    const events = JSON.stringify(await kube.list(`/apis/events.k8s.io/v1/namespaces/${ns}/events`));
    const configMaps = JSON.stringify(await kube.list(`/api/v1/namespaces/${ns}/configmaps`));
    const logs = logLines.join('\n');
    expect(logLines.length).toBeGreaterThan(5);
    for (const v of values) {
      for (const line of v.split('\n').filter((l) => l.length >= 16)) {
        expect(streams).not.toContain(line);
        expect(events).not.toContain(line);
        expect(configMaps).not.toContain(line);
        expect(logs).not.toContain(line);
      }
    }
  });
});

/** Mutating requests the API server counted for the kinds only the controller writes in this namespace's test. */
async function serverWrites(): Promise<number> {
  const { httpsGet } = await import('../../dev/cluster.ts');
  const { body } = await httpsGet(`${inject('clusterServer')}/metrics`, inject('clusterToken'));
  let total = 0;
  for (const line of body.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = /verb="(\w+)"/.exec(line)?.[1];
    const resource = /resource="(\w+)"/.exec(line)?.[1];
    if (!verb || !['PATCH', 'POST', 'PUT', 'DELETE', 'APPLY'].includes(verb)) continue;
    // Only the controller uses server-side apply in this cluster, and only it creates Secrets in this namespace's tests.
    if (resource === 'livestreams' || verb === 'APPLY' || (resource === 'secrets' && verb === 'POST')) {
      total += Number(line.split(' ').pop());
    }
  }
  return total;
}
