// The reconciler against a fake API (sample-controller style): what it writes, what it refuses to touch, and that
// a pass with nothing changed writes nothing, whatever the informer caches lag behind.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConditionType, Reason } from '../../src/api/conditions.ts';
import type { LiveStream } from '../../src/api/livestream.ts';
import { APPLIED_HASH_ANNOTATION } from '../../src/controller/children.ts';
import {
  REGENERATED_ANNOTATION,
  type Reconciler,
  type ReconcilerOptions,
  TokenBucket,
} from '../../src/controller/reconcile.ts';
import type { KubeObject } from '../../src/kube/rest.ts';
import { type FakeKube, fakeReconciler, liveStreamObject, pathOf } from '../support/fake-kube.ts';

const NS = 'events';
let fake: FakeKube;
let sync: () => void;
let reconciler: Reconciler;

function setup(opts: Partial<ReconcilerOptions> = {}) {
  ({ fake, sync, reconciler } = fakeReconciler(opts));
}

function addStream(name: string, spec: LiveStream['spec'] = {}) {
  const ls = fake.put(liveStreamObject(name, spec));
  sync();
  return ls;
}

function editSpec(name: string, spec: LiveStream['spec']) {
  const path = pathOf('vstream.io/v1alpha1', 'LiveStream', NS, name);
  const ls = fake.objects.get(path)!;
  fake.put({ ...ls, spec, metadata: { ...ls.metadata, generation: (ls.metadata.generation ?? 1) + 1 } });
  sync();
}

/** What kube-controller-manager would report once the pod is up. */
function markAvailable(name: string) {
  const path = pathOf('apps/v1', 'Deployment', NS, name);
  const d = fake.objects.get(path)!;
  d.status = { conditions: [{ type: 'Available', status: 'True' }] };
  fake.put(d, 'kube-controller-manager');
  sync();
}

const stream = (name: string) =>
  fake.objects.get(pathOf('vstream.io/v1alpha1', 'LiveStream', NS, name)) as unknown as LiveStream;
const condition = (name: string, type: string) => stream(name).status?.conditions?.find((c) => c.type === type);
const writesTo = (fragment: string) => fake.writes().filter((a) => a.path.includes(fragment));
const events = () =>
  [...fake.objects.values()].filter((o) => o.kind === 'Event') as (KubeObject & {
    reason: string;
    note: string;
    type: string;
  })[];

/** Reconciles until a pass writes nothing (with watch delivery in between), and returns the number of passes. */
async function settle(key: string, max = 5) {
  for (let i = 1; i <= max; i++) {
    const before = fake.writes().length;
    await reconciler.reconcile(key);
    sync();
    if (fake.writes().length === before) return i;
  }
  throw new Error(`still writing after ${max} passes`);
}

beforeEach(setup);

describe('idle: zero writes for every kind of stream', () => {
  const kinds: Record<string, LiveStream['spec']> = {
    minimal: {},
    recordingRetain: { recording: { enabled: true, reclaimPolicy: 'Retain' } },
    recordingDelete: { recording: { enabled: true, reclaimPolicy: 'Delete', storage: { size: '1.5Gi' } } },
    loadBalancer: { service: { type: 'LoadBalancer', annotations: { a: 'b' }, externalTrafficPolicy: 'Local' } },
    resources: { mediamtx: { resources: { requests: { cpu: 1, memory: '0.5Gi' }, limits: { cpu: '1500m' } } } },
  };
  for (const [kind, spec] of Object.entries(kinds)) {
    it(`${kind}: the second pass writes nothing, even before the watch delivers our writes`, async () => {
      addStream('s', spec);
      await reconciler.reconcile(`${NS}/s`);
      expect(fake.writes().length).toBeGreaterThan(4);
      const before = fake.writes().length;
      await reconciler.reconcile(`${NS}/s`); // caches still empty of our writes: read-your-writes must hold
      expect(fake.writes().slice(before)).toEqual([]);
      sync();
      await reconciler.reconcile(`${NS}/s`);
      expect(fake.writes().slice(before)).toEqual([]);
    });
  }

  it('quantities the server rewrote canonically are not drift', async () => {
    addStream('q', kinds.resources);
    await settle(`${NS}/q`);
    const path = pathOf('apps/v1', 'Deployment', NS, 'q');
    const d = fake.objects.get(path) as KubeObject & {
      spec: { template: { spec: { containers: { resources: Record<string, Record<string, string>> }[] } } };
    };
    d.spec.template.spec.containers[0]!.resources = { requests: { cpu: '1', memory: '512Mi' }, limits: { cpu: '1.5' } };
    fake.put(d, 'kube-apiserver');
    sync();
    const before = fake.writes().length;
    await reconciler.reconcile(`${NS}/q`);
    expect(fake.writes().slice(before)).toEqual([]);
  });

  it('a recordings claim under Retain carries no owner reference and is not re-applied', async () => {
    addStream('r', kinds.recordingRetain);
    await settle(`${NS}/r`);
    const pvc = fake.objects.get(pathOf('v1', 'PersistentVolumeClaim', NS, 'r-recordings'))!;
    expect(pvc.metadata.ownerReferences).toBeUndefined();
    expect(writesTo('persistentvolumeclaims')).toHaveLength(1);
  });
});

describe('ownership: never touch what we did not create', () => {
  const userObjects: [string, KubeObject][] = [
    [
      'ConfigMap',
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x-mediamtx', namespace: NS }, data: { a: 'b' } },
    ],
    [
      'Service',
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x', namespace: NS }, spec: { ports: [{ port: 80 }] } },
    ],
    ['Service', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x-metrics', namespace: NS }, spec: {} }],
    ['Deployment', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', namespace: NS }, spec: {} }],
    [
      'PersistentVolumeClaim',
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'x-recordings', namespace: NS }, spec: {} },
    ],
    ['Secret', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x-publish', namespace: NS }, data: {} }],
    ['Secret', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x-internal', namespace: NS }, data: {} }],
  ];
  for (const [kind, obj] of userObjects) {
    it(`${kind} ${obj.metadata.name}: a namesake is a NameConflict, untouched, until it goes away`, async () => {
      const theirs = fake.put(obj, 'kubectl');
      addStream('x', { recording: { enabled: true } });
      await reconciler.reconcile(`${NS}/x`);
      const path = pathOf(obj.apiVersion, kind, NS, obj.metadata.name);
      expect(fake.writes().filter((a) => a.path === path)).toEqual([]);
      expect(fake.objects.get(path)).toEqual(theirs);
      // Nothing would start right beside someone else's object: the Deployment is held back.
      if (kind !== 'Deployment') expect(writesTo('/deployments/')).toEqual([]);
      const c = condition('x', ConditionType.Reconciled);
      expect(c).toMatchObject({ status: 'False', reason: Reason.NameConflict });
      expect(c?.message).toContain(`${kind} ${NS}/${obj.metadata.name}`);
      expect(stream('x').status?.phase).toBe('Failed');
      expect(events().find((e) => e.reason === Reason.NameConflict)?.type).toBe('Warning');

      fake.remove(path);
      sync();
      await settle(`${NS}/x`);
      expect(fake.objects.get(path)?.metadata.ownerReferences?.[0]?.name ?? 'label-owned').toBeTruthy();
      expect(condition('x', ConditionType.Reconciled)).toMatchObject({ status: 'True', reason: Reason.Applied });
    });
  }

  it('an object controlled by another LiveStream (an older one of the same name) is a conflict too', async () => {
    fake.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'y-mediamtx',
        namespace: NS,
        labels: { 'app.kubernetes.io/managed-by': 'vstream', 'vstream.io/livestream': 'y' },
        ownerReferences: [
          { apiVersion: 'vstream.io/v1alpha1', kind: 'LiveStream', name: 'y', uid: 'old-uid', controller: true },
        ],
      },
    });
    addStream('y');
    await reconciler.reconcile(`${NS}/y`);
    expect(condition('y', ConditionType.Reconciled)?.message).toContain('controlled by LiveStream y');
    expect(writesTo('/configmaps/')).toEqual([]);
  });

  it('a namesake created between our read and our apply: our fields are withdrawn, and it is a conflict', async () => {
    addStream('z');
    const svc = pathOf('v1', 'Service', NS, 'z');
    fake.beforeApply = (path) => {
      if (path === svc && !fake.objects.has(svc))
        fake.put({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'z', namespace: NS }, spec: {} }, 'kubectl');
    };
    await reconciler.reconcile(`${NS}/z`);
    const applies = fake.writes().filter((a) => a.path === svc);
    expect(applies).toHaveLength(2);
    expect(applies[1]?.body).toEqual({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'z', namespace: NS } });
    expect(condition('z', ConditionType.Reconciled)?.reason).toBe(Reason.NameConflict);
  });

  it('a recordings claim kept under Retain is found again by a re-created stream of the same name', async () => {
    addStream('k', { recording: { enabled: true } });
    await settle(`${NS}/k`);
    const pvcPath = pathOf('v1', 'PersistentVolumeClaim', NS, 'k-recordings');
    const pvc = fake.objects.get(pvcPath)!;
    // The stream is deleted (its owned children go); the claim stays. A new stream with a new uid appears.
    for (const p of [...fake.objects.keys()]) if (p !== pvcPath) fake.remove(p);
    sync();
    addStream('k', { recording: { enabled: true } });
    await settle(`${NS}/k`);
    expect(condition('k', ConditionType.Reconciled)?.status).toBe('True');
    expect(fake.objects.get(pvcPath)?.metadata.uid).toBe(pvc.metadata.uid);
  });
});

describe('removals reach the children', () => {
  it('annotations removed from spec.service are applied away, and status says so only when true', async () => {
    addStream('a', { service: { annotations: { 'lb.example/internal': 'true' } } });
    await settle(`${NS}/a`);
    const svcPath = pathOf('v1', 'Service', NS, 'a');
    expect(fake.objects.get(svcPath)?.metadata.annotations?.['lb.example/internal']).toBe('true');
    editSpec('a', { service: {} });
    await settle(`${NS}/a`);
    const applied = fake
      .writes()
      .filter((w) => w.path === svcPath)
      .at(-1)?.body;
    expect(applied?.metadata.annotations).toEqual({ [APPLIED_HASH_ANNOTATION]: expect.any(String) });
    expect(fake.objects.get(svcPath)?.metadata.annotations?.['lb.example/internal']).toBeUndefined();
  });

  it('a removed resource limit is applied away', async () => {
    addStream('l', { mediamtx: { resources: { limits: { memory: '1Gi' } } } });
    await settle(`${NS}/l`);
    editSpec('l', { mediamtx: {} });
    const before = writesTo('/deployments/').length;
    await settle(`${NS}/l`);
    expect(writesTo('/deployments/').length).toBe(before + 1);
  });

  it('a hand edit of a field we own is repaired once, and an edit of a field we do not set is left alone', async () => {
    addStream('h');
    await settle(`${NS}/h`);
    const path = pathOf('v1', 'ConfigMap', NS, 'h-mediamtx');
    const cm = fake.objects.get(path)!;
    fake.put({ ...cm, metadata: { ...cm.metadata, labels: { ...cm.metadata.labels, team: 'ops' } } }, 'kubectl');
    sync();
    let before = fake.writes().length;
    await reconciler.reconcile(`${NS}/h`);
    expect(fake.writes().length).toBe(before);
    fake.put({ ...cm, data: { 'mediamtx.yml': 'tampered' } }, 'kubectl');
    sync();
    before = fake.writes().length;
    await settle(`${NS}/h`);
    expect(
      fake
        .writes()
        .slice(before)
        .map((w) => w.path),
    ).toEqual([path]);
  });
});

describe('lean caches: ConfigMap and Deployment bodies are read only when they may have changed', () => {
  const reads = (fragment: string) => fake.actions.filter((a) => a.verb === 'get' && a.path.includes(fragment));

  it('a Deployment status update (same generation) costs no read and no write', async () => {
    addStream('d');
    await settle(`${NS}/d`);
    markAvailable('d');
    const [gets, writes] = [reads('/deployments/').length, writesTo('/deployments/').length];
    await reconciler.reconcile(`${NS}/d`);
    expect(reads('/deployments/').length).toBe(gets);
    expect(writesTo('/deployments/').length).toBe(writes);
  });

  it('after a restart the first pass reads each body once and writes nothing; the next pass reads none', async () => {
    addStream('r');
    await settle(`${NS}/r`);
    const objects = fake.objects;
    ({ fake, sync, reconciler } = fakeReconciler());
    for (const [k, v] of objects) fake.objects.set(k, v);
    sync();
    const before = fake.writes().length;
    await reconciler.reconcile(`${NS}/r`);
    expect(fake.writes().length).toBe(before);
    expect(reads('/configmaps/r-mediamtx').length).toBe(1);
    expect(reads('/deployments/r').length).toBe(1);
    const gets = fake.actions.filter((a) => a.verb === 'get').length;
    await reconciler.reconcile(`${NS}/r`);
    expect(fake.actions.filter((a) => a.verb === 'get').length).toBe(gets);
  });

  it('a hand edit of the pod template (a new generation) is read and repaired', async () => {
    addStream('t');
    await settle(`${NS}/t`);
    const path = pathOf('apps/v1', 'Deployment', NS, 't');
    const d = fake.objects.get(path)!;
    const spec = structuredClone(d.spec) as { template: { spec: { containers: { image: string }[] } } };
    spec.template.spec.containers[0]!.image = 'tampered:1';
    fake.put({ ...d, spec, metadata: { ...d.metadata, generation: (d.metadata.generation ?? 1) + 1 } }, 'kubectl');
    sync();
    const before = writesTo('/deployments/').length;
    await settle(`${NS}/t`);
    expect(writesTo('/deployments/').length).toBe(before + 1);
    const repaired = fake.objects.get(path)!.spec as typeof spec;
    expect(repaired.template.spec.containers[0]!.image).not.toBe('tampered:1');
  });
});

describe('what users depend on is announced', () => {
  it('a deleted generated publish Secret is recreated with a new token, a Warning event and a condition', async () => {
    addStream('t');
    await settle(`${NS}/t`);
    expect(condition('t', ConditionType.PublishTokenStable)).toMatchObject({
      status: 'True',
      reason: Reason.Unchanged,
    });
    const secret = pathOf('v1', 'Secret', NS, 't-publish');
    fake.remove(secret);
    sync();
    await settle(`${NS}/t`);
    expect(fake.objects.get(secret)?.metadata.annotations?.[REGENERATED_ANNOTATION]).toBeTruthy();
    expect(condition('t', ConditionType.PublishTokenStable)).toMatchObject({
      status: 'False',
      reason: Reason.Regenerated,
    });
    expect(events().find((e) => e.reason === 'PublishTokenRegenerated')?.type).toBe('Warning');
  });

  it('an advertised address that changes is a Warning event', async () => {
    addStream('e', { service: { type: 'LoadBalancer' } });
    await settle(`${NS}/e`);
    const path = pathOf('v1', 'Service', NS, 'e');
    const setIngress = (ip: string) => {
      const svc = fake.objects.get(path)!;
      fake.put({ ...svc, status: { loadBalancer: { ingress: [{ ip }] } } }, 'cloud-controller');
      sync();
    };
    setIngress('127.0.0.10');
    await settle(`${NS}/e`);
    setIngress('127.0.0.11');
    await settle(`${NS}/e`);
    const changed = events().filter((e) => e.reason === 'EndpointChanged');
    expect(changed.some((e) => e.note.includes('127.0.0.10') && e.note.includes('127.0.0.11'))).toBe(true);
  });
});

describe('read-only caches', () => {
  it('never writes into the informer stores', async () => {
    const c = fakeReconciler();
    c.fake.put(liveStreamObject('ro'));
    c.sync();
    const snapshot = JSON.stringify([...c.caches.streams.store.values()]);
    await c.reconciler.reconcile(`${NS}/ro`);
    expect(JSON.stringify([...c.caches.streams.store.values()])).toBe(snapshot);
    expect(c.caches.configMaps.store.size).toBe(0);
  });
});

describe('changes that would drop connected sessions wait until nobody is connected', () => {
  // MediaMTX's control API, as the live loop asks it: GET /v3/paths/get/<path>.
  let state: Record<string, unknown> = { online: false, readers: [] };
  let asked = 0;
  const api = createServer((_req, res) => {
    asked++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(state));
  });
  let base = '';
  const requeued: string[] = [];
  beforeAll(async () => {
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => api.close(r)));
  beforeEach(() => {
    requeued.length = 0;
    state = { online: false, readers: [] };
    // No grace period here: "the publisher left" means left (the grace period has its own test).
    setup({ locateApi: () => base, requeue: (k) => requeued.push(k), liveGraceMs: 0 });
  });
  const live = { online: true, source: { type: 'rtmpConn' }, readers: [{ type: 'hlsMuxer' }] };

  it('a moving viewer count reaches status at most once a minute; going live and offline at once', async () => {
    addStream('v');
    await settle(`${NS}/v`);
    markAvailable('v');
    let now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => now);
    const statusWrites = () => writesTo('/livestreams/v/status').length;
    try {
      state = live;
      await reconciler.pollLive(`${NS}/v`);
      expect(stream('v').status).toMatchObject({ live: true, viewers: 1 });
      const w = statusWrites();
      state = { ...live, readers: [{ type: 'hlsMuxer' }, { type: 'hlsMuxer' }, { type: 'webRTCSession' }] };
      now += 10_000;
      await reconciler.pollLive(`${NS}/v`);
      expect(statusWrites()).toBe(w);
      expect(stream('v').status?.viewers).toBe(1);
      now += 50_000;
      await reconciler.pollLive(`${NS}/v`);
      expect(statusWrites()).toBe(w + 1);
      expect(stream('v').status?.viewers).toBe(3);
      state = { online: false, readers: [] };
      now += 1_000;
      await reconciler.pollLive(`${NS}/v`);
      expect(stream('v').status).toMatchObject({ live: false, viewers: 0 });
    } finally {
      clock.mockRestore();
    }
  });

  it('a stream whose pod is not available is not asked, and a live one whose pod goes away is offline at once', async () => {
    addStream('u');
    await settle(`${NS}/u`);
    asked = 0;
    state = live;
    // No pod available yet: nothing could answer, so nothing is asked and no retry is scheduled.
    expect(await reconciler.pollLive(`${NS}/u`)).toBeUndefined();
    expect(asked).toBe(0);
    expect(stream('u').status?.live).not.toBe(true);
    markAvailable('u');
    expect((await reconciler.pollLive(`${NS}/u`))?.requeueAfterMs).toBeGreaterThan(0);
    expect(asked).toBe(1);
    expect(stream('u').status?.live).toBe(true);
    // The pod goes (kube-controller-manager reports the Deployment unavailable).
    const path = pathOf('apps/v1', 'Deployment', NS, 'u');
    const d = fake.objects.get(path)!;
    d.status = { conditions: [{ type: 'Available', status: 'False' }] };
    fake.put(d, 'kube-controller-manager');
    sync();
    expect(await reconciler.pollLive(`${NS}/u`)).toBeUndefined();
    expect(asked).toBe(1);
    expect(stream('u').status?.live).toBe(false);
  });

  it('the viewer-count budget all streams share: a burst, then its rate', () => {
    const bucket = new TokenBucket(5, 20);
    const t = 1_000_000;
    expect(Array.from({ length: 25 }, () => bucket.take(t)).filter(Boolean)).toHaveLength(20);
    expect(Array.from({ length: 10 }, () => bucket.take(t + 1000)).filter(Boolean)).toHaveLength(5);
  });

  it('a publisher that drops is still live for the grace period: a reconnect is not an outage, and held changes keep waiting', async () => {
    setup({ locateApi: () => base, requeue: (k) => requeued.push(k), liveGraceMs: 400 });
    addStream('g');
    await settle(`${NS}/g`);
    markAvailable('g');
    state = live;
    await reconciler.pollLive(`${NS}/g`);
    expect(stream('g').status?.phase).toBe('Live');
    editSpec('g', { mediamtx: { logLevel: 'debug' } });
    await settle(`${NS}/g`);
    const cm = writesTo('/configmaps/').length;

    state = { online: false, readers: [] };
    const r = await reconciler.pollLive(`${NS}/g`);
    expect(r?.requeueAfterMs).toBeLessThanOrEqual(450);
    expect(stream('g').status).toMatchObject({ live: true, phase: 'Live' });
    expect(condition('g', ConditionType.Live)).toMatchObject({ status: 'True', reason: Reason.PublisherReconnecting });
    await settle(`${NS}/g`);
    expect(writesTo('/configmaps/').length).toBe(cm); // the streamer is expected back: the roll still waits
    // Back within the grace period: never reported offline.
    state = live;
    await reconciler.pollLive(`${NS}/g`);
    expect(condition('g', ConditionType.Live)).toMatchObject({ status: 'True', reason: Reason.PublisherOnline });

    state = { online: false, readers: [] };
    await reconciler.pollLive(`${NS}/g`);
    await new Promise((res) => setTimeout(res, 450));
    await reconciler.pollLive(`${NS}/g`);
    expect(stream('g').status).toMatchObject({ live: false, phase: 'Ready' });
    expect(condition('g', ConditionType.Live)).toMatchObject({ status: 'False', reason: Reason.NoPublisher });
    await settle(`${NS}/g`);
    expect(writesTo('/configmaps/').length).toBe(cm + 1);
  });

  it('a logLevel change and a new pod are held while live, announced, and applied once the publisher leaves', async () => {
    addStream('d');
    await settle(`${NS}/d`);
    markAvailable('d');
    state = live;
    await reconciler.pollLive(`${NS}/d`);
    expect(stream('d').status?.live).toBe(true);
    const [cm, dep] = [writesTo('/configmaps/').length, writesTo('/deployments/').length];

    editSpec('d', { mediamtx: { logLevel: 'debug' }, ingest: { protocols: ['rtmp', 'srt'] } });
    await settle(`${NS}/d`);
    expect(writesTo('/configmaps/').length).toBe(cm);
    expect(writesTo('/deployments/').length).toBe(dep);
    expect(writesTo('/services/').length).toBeGreaterThan(0); // what drops nobody is applied
    const held = condition('d', ConditionType.ConfigApplied);
    expect(held).toMatchObject({ status: 'False', reason: Reason.WaitingForIdle });
    expect(held?.message).toContain('logLevel');
    expect(held?.message).toContain('a new pod');
    expect(held?.message).toContain('the publisher and 1 reader');
    expect(events().find((e) => e.reason === Reason.WaitingForIdle)?.type).toBe('Warning');

    state = { online: false, readers: [] };
    await reconciler.pollLive(`${NS}/d`);
    expect(requeued).toContain(`${NS}/d`);
    await settle(`${NS}/d`);
    expect(writesTo('/configmaps/').length).toBe(cm + 1);
    expect(writesTo('/deployments/').length).toBe(dep + 1);
    expect(condition('d', ConditionType.ConfigApplied)).toMatchObject({ status: 'True', reason: Reason.InPlace });
  });

  it('a recording change is applied in place while live; an HLS restart with no HLS reader waits for nobody', async () => {
    addStream('h', { recording: { enabled: true } });
    await settle(`${NS}/h`);
    markAvailable('h');
    state = { online: true, source: { type: 'rtmpConn' }, readers: [] };
    await reconciler.pollLive(`${NS}/h`);
    const cm = writesTo('/configmaps/').length;
    editSpec('h', { recording: { enabled: true, segmentDuration: '10m' } });
    await settle(`${NS}/h`);
    editSpec('h', {
      recording: { enabled: true, segmentDuration: '10m' },
      playback: { allowedOrigins: ['https://x.example'] },
    });
    await settle(`${NS}/h`);
    expect(writesTo('/configmaps/').length).toBe(cm + 2);
    expect(condition('h', ConditionType.ConfigApplied)?.status).toBe('True');
  });

  it('spec.disruptiveUpdates: Immediate applies at once and says whom it dropped', async () => {
    addStream('i', { disruptiveUpdates: 'Immediate' });
    await settle(`${NS}/i`);
    markAvailable('i');
    state = live;
    await reconciler.pollLive(`${NS}/i`);
    const cm = writesTo('/configmaps/').length;
    editSpec('i', { disruptiveUpdates: 'Immediate', mediamtx: { logLevel: 'debug' } });
    await settle(`${NS}/i`);
    expect(writesTo('/configmaps/').length).toBe(cm + 1);
    const dropped = events().find((e) => e.reason === 'SessionsDropped');
    expect(dropped?.note).toContain('the publisher and 1 reader');
  });
});
