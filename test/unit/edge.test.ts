import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { ConditionType, Reason } from '../../src/api/conditions.ts';
import { type LiveStream, resolveSpec } from '../../src/api/livestream.ts';
import { checkCertificate } from '../../src/controller/certificate.ts';
import type { Reconciler } from '../../src/controller/reconcile.ts';
import type { KubeObject } from '../../src/kube/rest.ts';
import { configChanges, GLOBAL_RELOAD } from '../../src/mediamtx/reload.ts';
import { mediamtxConfig, tlsConfig } from '../../src/render/mediamtx-config.ts';
import { childObjects, renderStream } from '../../src/render/objects.ts';
import { selfSigned, type TestCert, tlsSecret } from '../support/certs.ts';
import { type FakeKube, fakeReconciler, liveStreamObject, pathOf } from '../support/fake-kube.ts';

const NS = 'events';
let good: TestCert;
let other: TestCert;
beforeAll(() => {
  good = selfSigned({ dns: ['live.example.com'], ips: ['203.0.113.7'], days: 30 });
  other = selfSigned({ dns: ['other.example.com'] });
});

describe('checkCertificate', () => {
  it('accepts a valid pair and says which hosts it covers', () => {
    const c = checkCertificate(good.cert, good.key, new Date());
    expect(c.ok).toBe(true);
    if (!c.ok) return;
    expect(c.covers('live.example.com')).toBe(true);
    expect(c.covers('203.0.113.7')).toBe(true);
    expect(c.covers('evil.example.com')).toBe(false);
    expect(+c.validTo - Date.now()).toBeGreaterThan(29 * 86_400_000);
  });

  it('refuses garbage, a key that is not the certificate’s, an expired and a not-yet-valid certificate', () => {
    expect(checkCertificate('nope', good.key, new Date())).toMatchObject({ ok: false, problem: /tls\.crt is not/ });
    expect(checkCertificate(good.cert, 'nope', new Date())).toMatchObject({ ok: false, problem: /tls\.key is not a/ });
    expect(checkCertificate(good.cert, other.key, new Date())).toMatchObject({
      ok: false,
      problem: 'tls.key is not the private key of the certificate in tls.crt',
    });
    const later = new Date(Date.now() + 40 * 86_400_000);
    expect(checkCertificate(good.cert, good.key, later)).toMatchObject({ ok: false, problem: /expired on 20/ });
    const before = new Date(Date.now() - 86_400_000);
    expect(checkCertificate(good.cert, good.key, before)).toMatchObject({ ok: false, problem: /not valid before/ });
    // Never any key material in what it says.
    for (const c of [checkCertificate(good.cert, other.key, new Date()), checkCertificate('x', good.key, new Date())])
      expect(JSON.stringify(c)).not.toMatch(/PRIVATE|BEGIN/);
  });
});

const stream = (spec: LiveStream['spec'], name = 'show'): LiveStream =>
  ({ ...liveStreamObject(name, spec), metadata: { name, namespace: NS, uid: 'u' } }) as unknown as LiveStream;
const podOf = (r: ReturnType<typeof renderStream>) =>
  (
    r.deployment.spec as {
      template: {
        spec: {
          containers: {
            name: string;
            env?: { name: string; value: string }[];
            ports: { name: string; containerPort: number; protocol: string }[];
            volumeMounts: { name: string; mountPath: string }[];
          }[];
          volumes: { name: string; secret?: { secretName: string } }[];
        };
      };
    }
  ).template.spec;
const container = (r: ReturnType<typeof renderStream>, name: string) => {
  const pod = podOf(r) as ReturnType<typeof podOf> & { initContainers?: ReturnType<typeof podOf>['containers'] };
  // The auth sidecar is a native sidecar (an init container with restartPolicy Always).
  return [...(pod.initContainers ?? []), ...pod.containers].find((c) => c.name === name)!;
};
const servicePorts = (r: ReturnType<typeof renderStream>) =>
  (r.service.spec as { ports: { name: string; port: number; protocol: string }[] }).ports.map(
    (p) => `${p.name}:${p.port}/${p.protocol}`,
  );
const RENDER = { sidecarImage: 'vstream:test' };

describe('TLS rendering', () => {
  const tls = { secretRef: { name: 'show-tls' } };
  const spec = {
    ingest: { protocols: ['rtmp', 'rtsp', 'webrtc'] },
    playback: { protocols: ['hls', 'webrtc'] },
    tls,
  } as LiveStream['spec'];

  it('turns on RTMPS, RTSPS and HTTPS in the pod’s environment, with the certificate mounted into MediaMTX only', () => {
    const r = renderStream(stream(spec), RENDER);
    const env = Object.fromEntries((container(r, 'mediamtx').env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      MTX_RTMPENCRYPTION: 'strict',
      MTX_RTMPSADDRESS: ':1936',
      MTX_RTMPSERVERCERT: '/var/run/vstream/tls/tls.crt',
      MTX_RTMPSERVERKEY: '/var/run/vstream/tls/tls.key',
      MTX_RTSPENCRYPTION: 'strict',
      MTX_RTSPSADDRESS: ':8322',
      MTX_HLSENCRYPTION: 'true',
      MTX_WEBRTCENCRYPTION: 'true',
      MTX_WEBRTCSERVERCERT: '/var/run/vstream/tls/tls.crt',
    });
    expect(container(r, 'mediamtx').volumeMounts).toContainEqual(
      expect.objectContaining({ name: 'tls', mountPath: '/var/run/vstream/tls' }),
    );
    expect(container(r, 'auth').volumeMounts.map((m) => m.name)).not.toContain('tls');
    // The plain listeners are off: only the TLS ports are exposed.
    expect(servicePorts(r)).toEqual([
      'rtmps:1936/TCP',
      'rtsps:8322/TCP',
      'hls:8888/TCP',
      'webrtc:8889/TCP',
      'webrtc-ice:8189/UDP',
      'webrtc-ice-tcp:8189/TCP',
    ]);
    // The ConfigMap names neither the Secret nor a certificate file, and has no encryption key to contradict the env.
    const cm = JSON.stringify(r.configMap);
    expect(cm).not.toContain('show-tls');
    expect(cm).not.toContain('tls.key');
    const file = parse((r.configMap.data as Record<string, string>)['mediamtx.yml']!);
    expect(file).not.toHaveProperty('rtmpEncryption');
    expect(file).not.toHaveProperty('rtspEncryption');
  });

  it('allowPlaintext keeps the plain RTMP listener beside RTMPS (encryption optional)', () => {
    const r = renderStream(stream({ ...spec, tls: { ...tls, allowPlaintext: ['rtmp'] } }), RENDER);
    expect(container(r, 'mediamtx').env).toContainEqual({ name: 'MTX_RTMPENCRYPTION', value: 'optional' });
    expect(container(r, 'mediamtx').env).toContainEqual({ name: 'MTX_RTSPENCRYPTION', value: 'strict' });
    expect(servicePorts(r).slice(0, 3)).toEqual(['rtmps:1936/TCP', 'rtmp:1935/TCP', 'rtsps:8322/TCP']);
  });

  it('classifies every TLS key by what MediaMTX 1.20.1 restarts for it', () => {
    const keys = Object.keys(tlsConfig(resolveSpec('show', spec)));
    expect(keys.length).toBe(14);
    for (const k of keys) expect(GLOBAL_RELOAD, k).toHaveProperty(k);
    expect(GLOBAL_RELOAD.rtmpServerCert).toMatchObject({ drops: 'rtmp', restarts: 'the RTMPS server' });
    expect(GLOBAL_RELOAD.rtspEncryption).toMatchObject({ drops: 'everyone' });
    expect(GLOBAL_RELOAD.hlsServerKey).toMatchObject({ drops: 'hls' });
  });
});

describe('WebRTC behind a load balancer or a node port', () => {
  const webrtc = { playback: { protocols: ['hls', 'webrtc'] } } as LiveStream['spec'];
  const lbStatus = (ip: string) => ({ status: { loadBalancer: { ingress: [{ ip }] } } });

  it('advertises the load balancer’s address (not pod IPs) on one fixed UDP and one fixed TCP port', () => {
    const r = renderStream(stream({ ...webrtc, service: { type: 'LoadBalancer' } }), {
      ...RENDER,
      service: lbStatus('203.0.113.7'),
    });
    expect(r.config).toMatchObject({
      webrtcLocalUDPAddress: ':8189',
      webrtcLocalTCPAddress: ':8189',
      webrtcIPsFromInterfaces: false,
      webrtcAdditionalHosts: ['203.0.113.7'],
    });
    const pending = renderStream(stream({ ...webrtc, service: { type: 'LoadBalancer' } }), RENDER);
    expect(pending.config).toMatchObject({ webrtcIPsFromInterfaces: true, webrtcAdditionalHosts: [] });
    // The address arriving is a WebRTC server restart by reload, not a new pod.
    const anno = (x: typeof r) =>
      (x.deployment.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata
        .annotations;
    expect(anno(r)).toEqual(anno(pending));
    expect(configChanges(pending.config, r.config).map((c) => [c.key, c.drops])).toEqual([
      ['webrtcIPsFromInterfaces', 'webrtc'],
      ['webrtcAdditionalHosts', 'webrtc'],
    ]);
  });

  it('on a NodePort Service MediaMTX listens on the node ports (a candidate carries the port it listens on)', () => {
    const service = {
      spec: {
        ports: [
          { name: 'hls', port: 8888, protocol: 'TCP', nodePort: 30888 },
          { name: 'webrtc', port: 8889, protocol: 'TCP', nodePort: 30889 },
          { name: 'webrtc-ice', port: 8189, protocol: 'UDP', nodePort: 30189 },
          { name: 'webrtc-ice-tcp', port: 8189, protocol: 'TCP', nodePort: 30190 },
          { name: 'rtmp', port: 1935, protocol: 'TCP', nodePort: 31935 },
        ],
      },
    };
    const r = renderStream(stream({ ...webrtc, service: { type: 'NodePort' } }), {
      ...RENDER,
      service,
      nodeAddress: '198.51.100.4',
    });
    expect(r.config).toMatchObject({
      webrtcLocalUDPAddress: ':30189',
      webrtcLocalTCPAddress: ':30190',
      webrtcAdditionalHosts: ['198.51.100.4'],
    });
    expect(container(r, 'mediamtx').ports).toContainEqual({
      name: 'webrtc-ice',
      containerPort: 30189,
      protocol: 'UDP',
    });
    expect(servicePorts(r)).toContain('webrtc-ice:8189/UDP');
  });

  it('a ClusterIP stream keeps advertising the pod’s own addresses', () => {
    expect(mediamtxConfig(resolveSpec('show', webrtc))).toMatchObject({
      webrtcIPsFromInterfaces: true,
      webrtcAdditionalHosts: [],
    });
  });
});

describe('the reconciler at the edge', () => {
  let fake: FakeKube;
  let sync: () => void;
  let reconciler: Reconciler;
  const setup = (nodeAddress?: string) => {
    ({ fake, sync, reconciler } = fakeReconciler(nodeAddress ? { nodeAddress } : {}));
  };
  beforeEach(() => setup());
  afterEach(() => vi.useRealTimers());

  const add = (name: string, spec: LiveStream['spec']) => {
    fake.put(liveStreamObject(name, spec));
    sync();
  };
  const ls = (name: string) =>
    fake.objects.get(pathOf('vstream.io/v1alpha1', 'LiveStream', NS, name)) as unknown as LiveStream;
  const cond = (name: string, type: string) => ls(name).status?.conditions?.find((c) => c.type === type);
  const events = () =>
    [...fake.objects.values()].filter((o) => o.kind === 'Event') as (KubeObject & { reason: string; note: string })[];
  const deployment = (name: string) => fake.objects.get(pathOf('apps/v1', 'Deployment', NS, name));
  const reconcile = async (name: string) => {
    const r = await reconciler.reconcile(`${NS}/${name}`);
    sync();
    return r;
  };

  it('a missing, broken or expired certificate is SecretsResolved=False and no pod is given it', async () => {
    add('t', { tls: { secretRef: { name: 't-tls' } } });
    await reconcile('t');
    expect(cond('t', ConditionType.SecretsResolved)).toMatchObject({ status: 'False', reason: Reason.SecretNotFound });
    expect(deployment('t')).toBeUndefined();

    fake.put(tlsSecret('t-tls', NS, { cert: good.cert, key: other.key }) as unknown as KubeObject);
    await reconcile('t');
    const mismatch = cond('t', ConditionType.SecretsResolved);
    expect(mismatch).toMatchObject({ status: 'False', reason: Reason.CertificateInvalid });
    expect(mismatch?.message).toContain(`Secret ${NS}/t-tls: tls.key is not the private key`);
    expect(mismatch?.message).toMatch(/expires on 20\d\d-/);
    expect(JSON.stringify(ls('t').status)).not.toMatch(/BEGIN|PRIVATE/);
    expect(deployment('t')).toBeUndefined();
    expect(ls('t').status?.phase).toBe('Failed');

    fake.put(tlsSecret('t-tls', NS, good) as unknown as KubeObject);
    const r = await reconcile('t');
    expect(cond('t', ConditionType.SecretsResolved)).toMatchObject({ status: 'True', reason: Reason.Resolved });
    expect(cond('t', ConditionType.SecretsResolved)?.message).toMatch(/valid until 20\d\d-/);
    expect(deployment('t')).toBeDefined();
    // Looked at again within the hour: cert-manager's renewal and the expiry come without an event.
    expect(r?.requeueAfterMs).toBeLessThanOrEqual(3_600_000);

    vi.useFakeTimers({ now: Date.now() + 40 * 86_400_000, toFake: ['Date'] });
    await reconcile('t');
    expect(cond('t', ConditionType.SecretsResolved)).toMatchObject({
      status: 'False',
      reason: Reason.CertificateInvalid,
    });
    expect(cond('t', ConditionType.SecretsResolved)?.message).toMatch(
      /Secret events\/t-tls: the certificate expired on 20/,
    );
  });

  it('a certificate for another name: EndpointsReady=False, CertificateHostMismatch', async () => {
    fake.put(tlsSecret('m-tls', NS, other) as unknown as KubeObject);
    add('m', { service: { externalHost: 'live.example.com' }, tls: { secretRef: { name: 'm-tls' } } });
    await reconcile('m');
    expect(cond('m', ConditionType.EndpointsReady)).toMatchObject({
      status: 'False',
      reason: Reason.CertificateHostMismatch,
    });
  });

  it('applies the Service first and renders MediaMTX’s ICE listeners from the node ports it was given', async () => {
    setup('198.51.100.4');
    // The API server allocates node ports on the first apply of a NodePort Service.
    const apply = fake.apply.bind(fake);
    let next = 30100;
    fake.apply = async (obj, manager, opts) => {
      const out = (await apply(obj, manager, opts)) as KubeObject & { spec?: { ports?: Record<string, unknown>[] } };
      if (obj.kind === 'Service' && (obj.spec as { type?: string })?.type === 'NodePort') {
        const stored = fake.objects.get(pathOf('v1', 'Service', NS, obj.metadata.name))!;
        for (const p of (stored.spec as { ports: Record<string, unknown>[] }).ports) p.nodePort ??= next++;
        return structuredClone(stored) as never;
      }
      return out as never;
    };
    add('n', { playback: { protocols: ['hls', 'webrtc'] }, service: { type: 'NodePort' } });
    await reconcile('n');
    const order = fake
      .writes()
      .filter((w) => w.verb === 'apply' && !w.path.endsWith('/status'))
      .map((w) => w.path.split('/').at(-2));
    expect(order.slice(0, 2)).toEqual(['services', 'configmaps']);
    const cm = parse(
      (fake.objects.get(pathOf('v1', 'ConfigMap', NS, 'n-mediamtx'))!.data as Record<string, string>)['mediamtx.yml']!,
    );
    const svc = (
      fake.objects.get(pathOf('v1', 'Service', NS, 'n'))!.spec as { ports: { name: string; nodePort: number }[] }
    ).ports;
    const np = (n: string) => svc.find((p) => p.name === n)!.nodePort;
    expect(cm.webrtcLocalUDPAddress).toBe(`:${np('webrtc-ice')}`);
    expect(cm.webrtcLocalTCPAddress).toBe(`:${np('webrtc-ice-tcp')}`);
    expect(cm.webrtcAdditionalHosts).toEqual(['198.51.100.4']);
    expect(ls('n').status?.playback?.hls).toBe(`http://198.51.100.4:${np('hls')}/live/n/index.m3u8`);
    // One render for the first pod: the Deployment was created once, already with the node ports.
    expect(fake.writes().filter((w) => w.path.includes('/deployments/'))).toHaveLength(1);
  });

  it('announces a load balancer address when it arrives and when it changes, without a new pod', async () => {
    add('lb', { playback: { protocols: ['hls', 'webrtc'] }, service: { type: 'LoadBalancer' } });
    await reconcile('lb');
    expect(ls('lb').status?.endpoints).toEqual({ scope: 'Pending' });
    expect(cond('lb', ConditionType.EndpointsReady)?.reason).toBe(Reason.LoadBalancerPending);
    const template = () => JSON.stringify((deployment('lb')!.spec as { template: unknown }).template);
    const before = template();

    const setLb = (ip: string) => {
      const svc = fake.objects.get(pathOf('v1', 'Service', NS, 'lb'))!;
      svc.status = { loadBalancer: { ingress: [{ ip }] } };
      fake.put(svc, 'cloud-controller-manager');
      sync();
    };
    setLb('203.0.113.7');
    await reconcile('lb');
    expect(ls('lb').status?.ingest?.url).toBe('rtmp://203.0.113.7:1935/live');
    expect(events().find((e) => e.reason === 'EndpointsAssigned')?.note).toContain('203.0.113.7');
    const cm = () =>
      parse(
        (fake.objects.get(pathOf('v1', 'ConfigMap', NS, 'lb-mediamtx'))!.data as Record<string, string>)[
          'mediamtx.yml'
        ]!,
      );
    expect(cm().webrtcAdditionalHosts).toEqual(['203.0.113.7']);
    expect(template()).toBe(before);

    setLb('203.0.113.8');
    await reconcile('lb');
    const changed = events().find((e) => e.reason === 'EndpointChanged');
    expect(changed?.type).toBe('Warning');
    expect(changed?.note).toContain(
      'RTMP ingest server changed from rtmp://203.0.113.7:1935/live to rtmp://203.0.113.8:1935/live',
    );
    expect(cm().webrtcAdditionalHosts).toEqual(['203.0.113.8']);
  });

  it('every kind of edge stream settles to zero writes', async () => {
    fake.put(tlsSecret('z-tls', NS, good) as unknown as KubeObject);
    add('z', {
      playback: { protocols: ['hls', 'webrtc'] },
      service: { type: 'LoadBalancer', externalHost: 'live.example.com' },
      tls: { secretRef: { name: 'z-tls' }, allowPlaintext: ['rtmp'] },
    });
    await reconcile('z');
    const before = fake.writes().length;
    await reconcile('z');
    await reconcile('z');
    expect(fake.writes().slice(before)).toEqual([]);
  });
});

describe('child order', () => {
  it('still lists the config before the pods that mount it', () => {
    const r = renderStream(stream({}), RENDER);
    expect(childObjects(r).map((o) => o.kind)).toEqual(['ConfigMap', 'Service', 'Service', 'Deployment']);
  });
});
