import { describe, expect, it } from 'vitest';
import { type LiveStream, resolveSpec } from '../../src/api/livestream.ts';
import { isSubset } from '../../src/controller/children.ts';
import { desiredStatus, statusUpToDate, withTransitions } from '../../src/controller/status.ts';

const ls: LiveStream = {
  apiVersion: 'vstream.io/v1alpha1',
  kind: 'LiveStream',
  metadata: { name: 'show', namespace: 'events', generation: 3 },
  spec: { ingest: { protocols: ['rtmp', 'srt'] }, playback: { protocols: ['hls', 'webrtc'] } },
};
const spec = resolveSpec('show', ls.spec);
const available = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'show' },
  status: { conditions: [{ type: 'Available', status: 'True' }] },
};
const base = { spec, publishSecret: { name: 'show-publish', key: 'token' } };

describe('desiredStatus', () => {
  it('is Pending until the Deployment is available, then Ready, then Live with viewers', () => {
    expect(desiredStatus(ls, base).phase).toBe('Pending');
    expect(desiredStatus(ls, { ...base, deployment: available }).phase).toBe('Ready');
    const live = desiredStatus(ls, { ...base, deployment: available, probe: { online: true, readers: 3 } });
    expect(live).toMatchObject({ phase: 'Live', live: true, viewers: 3, observedGeneration: 3 });
  });

  it('is Failed with a SecretsResolved=False condition when a Secret is missing', () => {
    const s = desiredStatus(ls, {
      ...base,
      secretProblem: {
        reason: 'SecretNotFound',
        message: 'spec.ingest.publishTokenSecretRef: Secret events/x does not exist',
      },
    });
    expect(s.phase).toBe('Failed');
    expect(s.conditions.find((c) => c.type === 'SecretsResolved')).toMatchObject({
      status: 'False',
      reason: 'SecretNotFound',
    });
    expect(s.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'NotReconciled' });
  });

  it('uses the load balancer address for endpoints when there is one, and splits the path for OBS', () => {
    const lb = { ...ls, spec: { ...ls.spec, service: { type: 'LoadBalancer' as const } } };
    const s = desiredStatus(lb, {
      ...base,
      spec: resolveSpec('show', lb.spec),
      service: lbService({ ip: '203.0.113.7' }),
    });
    expect(s.ingest).toMatchObject({
      url: 'rtmp://203.0.113.7:1935/live',
      rtmp: { server: 'rtmp://203.0.113.7:1935/live', streamKey: 'show' },
      srt: 'srt://203.0.113.7:8890?streamid=publish:live/show',
    });
    expect(s.playback).toEqual({
      hls: 'http://203.0.113.7:8888/live/show/index.m3u8',
      webrtc: 'http://203.0.113.7:8889/live/show/',
    });
    expect(s.endpoints).toEqual({ host: '203.0.113.7', scope: 'External' });
    expect(cond(s, 'EndpointsReady')).toMatchObject({ status: 'True', reason: 'LoadBalancer' });
  });
});

const lbService = (ingress: { ip?: string; hostname?: string } | undefined, ports?: unknown[]) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'show' },
  ...(ports ? { spec: { ports } } : {}),
  status: { loadBalancer: { ingress: ingress ? [ingress] : [] } },
});
const cond = (s: ReturnType<typeof desiredStatus>, type: string) => s.conditions.find((c) => c.type === type);
const withSpec = (extra: LiveStream['spec'], o: Partial<Parameters<typeof desiredStatus>[1]> = {}) => {
  const l = { ...ls, spec: { ...ls.spec, ...extra } };
  return desiredStatus(l, { ...base, spec: resolveSpec('show', l.spec), ...o });
};

describe('endpoints a streamer can reach', () => {
  it('spec.service.externalHost wins over the load balancer address', () => {
    const s = withSpec(
      { service: { type: 'LoadBalancer', externalHost: 'live.example.com' } },
      { service: lbService({ ip: '203.0.113.7' }) },
    );
    expect(s.ingest?.rtmp?.server).toBe('rtmp://live.example.com:1935/live');
    expect(s.playback?.hls).toBe('http://live.example.com:8888/live/show/index.m3u8');
    expect(cond(s, 'EndpointsReady')).toMatchObject({ status: 'True', reason: 'ExternalHost' });
    expect(cond(s, 'EndpointsReady')?.message).toContain('203.0.113.7');
  });

  it('a load balancer hostname, and an IPv6 address in brackets', () => {
    const host = withSpec(
      { service: { type: 'LoadBalancer' } },
      { service: lbService({ hostname: 'a1.elb.example' }) },
    );
    expect(host.ingest?.rtmp?.server).toBe('rtmp://a1.elb.example:1935/live');
    const v6 = withSpec({ service: { type: 'LoadBalancer' } }, { service: lbService({ ip: '2001:db8::7' }) });
    expect(v6.ingest?.rtmp?.server).toBe('rtmp://[2001:db8::7]:1935/live');
    expect(v6.ingest?.srt).toBe('srt://[2001:db8::7]:8890?streamid=publish:live/show');
    expect(v6.endpoints).toEqual({ host: '[2001:db8::7]', scope: 'External' });
  });

  it('a pending load balancer: no host-bearing URL, never the cluster name; the stream key and the Secret stay', () => {
    const s = withSpec({ service: { type: 'LoadBalancer' } }, { service: lbService(undefined), deployment: available });
    expect(s.ingest).toEqual({
      rtmp: { streamKey: 'show' },
      publishTokenSecretRef: { name: 'show-publish', key: 'token' },
    });
    expect(s.playback).toEqual({});
    expect(s.endpoints).toEqual({ scope: 'Pending' });
    expect(JSON.stringify(s)).not.toContain('.svc');
    expect(cond(s, 'EndpointsReady')).toMatchObject({ status: 'False', reason: 'LoadBalancerPending' });
    // The pod runs: the stream is Ready, only its address is missing.
    expect(s.phase).toBe('Ready');
  });

  it('NodePort: the node address with each protocol’s node port', () => {
    const ports = [
      { name: 'rtmp', port: 1935, protocol: 'TCP', nodePort: 31935 },
      { name: 'srt', port: 8890, protocol: 'UDP', nodePort: 30890 },
      { name: 'hls', port: 8888, protocol: 'TCP', nodePort: 30888 },
      { name: 'webrtc', port: 8889, protocol: 'TCP', nodePort: 30889 },
      { name: 'webrtc-ice', port: 8189, protocol: 'UDP', nodePort: 30189 },
      { name: 'webrtc-ice-tcp', port: 8189, protocol: 'TCP', nodePort: 30190 },
    ];
    const svc = lbService(undefined, ports);
    const s = withSpec({ service: { type: 'NodePort' } }, { service: svc, nodeAddress: '198.51.100.4' });
    expect(s.ingest?.rtmp?.server).toBe('rtmp://198.51.100.4:31935/live');
    expect(s.ingest?.srt).toBe('srt://198.51.100.4:30890?streamid=publish:live/show');
    expect(s.playback).toEqual({
      hls: 'http://198.51.100.4:30888/live/show/index.m3u8',
      webrtc: 'http://198.51.100.4:30889/live/show/',
    });
    expect(cond(s, 'EndpointsReady')).toMatchObject({ status: 'True', reason: 'NodePort' });
    const ext = withSpec({ service: { type: 'NodePort', externalHost: 'live.example.com' } }, { service: svc });
    expect(ext.ingest?.rtmp?.server).toBe('rtmp://live.example.com:31935/live');

    const unknown = withSpec({ service: { type: 'NodePort' } }, { service: svc });
    expect(unknown.ingest?.rtmp?.server).toBeUndefined();
    expect(cond(unknown, 'EndpointsReady')).toMatchObject({ status: 'False', reason: 'NodeAddressUnknown' });
    expect(cond(unknown, 'EndpointsReady')?.message).toContain('rtmp 31935/TCP');
    const allocating = withSpec({ service: { type: 'NodePort' } }, { nodeAddress: '198.51.100.4' });
    expect(cond(allocating, 'EndpointsReady')).toMatchObject({ status: 'False', reason: 'NodePortPending' });
  });

  it('ClusterIP streams say they are cluster-internal', () => {
    const s = desiredStatus(ls, base);
    expect(s.ingest?.rtmp?.server).toBe('rtmp://show.events.svc:1935/live');
    expect(s.endpoints).toEqual({ host: 'show.events.svc', scope: 'ClusterInternal' });
    expect(cond(s, 'EndpointsReady')).toMatchObject({ status: 'True', reason: 'ClusterInternal' });
    expect(cond(s, 'EndpointsReady')?.message).toContain('only inside the cluster');
  });

  it('with spec.tls every URL has a TLS scheme and the TLS port; allowPlaintext does not change what status offers', () => {
    const tls = { secretRef: { name: 'show-tls' }, allowPlaintext: ['rtmp' as const] };
    const s = withSpec(
      {
        ingest: { protocols: ['rtmp', 'rtsp', 'webrtc'] },
        playback: { protocols: ['hls', 'webrtc', 'rtsp'] },
        service: { type: 'LoadBalancer', externalHost: 'live.example.com' },
        tls,
      },
      { service: lbService({ ip: '203.0.113.7' }), certificateValidTo: '2027-01-01T00:00:00Z' },
    );
    expect(s.ingest).toMatchObject({
      url: 'rtmps://live.example.com:1936/live',
      rtmp: { server: 'rtmps://live.example.com:1936/live' },
      rtsp: 'rtsps://live.example.com:8322/live/show',
      webrtc: 'https://live.example.com:8889/live/show/whip',
    });
    expect(s.playback).toEqual({
      hls: 'https://live.example.com:8888/live/show/index.m3u8',
      webrtc: 'https://live.example.com:8889/live/show/',
      rtsp: 'rtsps://live.example.com:8322/live/show',
    });
    expect(cond(s, 'SecretsResolved')?.message).toContain('valid until 2027-01-01T00:00:00Z');
  });

  it('a certificate that does not cover the host the URLs use is EndpointsReady=False, CertificateHostMismatch', () => {
    const spec = {
      service: { type: 'LoadBalancer' as const, externalHost: 'live.example.com' },
      tls: { secretRef: { name: 't' } },
    };
    const mismatch = withSpec(spec, { certificateCovers: (h) => h === 'other.example.com' });
    expect(cond(mismatch, 'EndpointsReady')).toMatchObject({ status: 'False', reason: 'CertificateHostMismatch' });
    expect(cond(mismatch, 'EndpointsReady')?.message).toContain('live.example.com');
    const ok = withSpec(spec, { certificateCovers: (h) => h === 'live.example.com' });
    expect(cond(ok, 'EndpointsReady')).toMatchObject({ status: 'True', reason: 'ExternalHost' });
  });
});

describe('an invalid spec', () => {
  it('still gets a status (Failed, InvalidSpec) even though nothing could be rendered from it', () => {
    const s = desiredStatus(ls, {
      spec: {} as never,
      publishSecret: { name: '', key: '' },
      renderProblem: { reason: 'InvalidSpec', message: 'renderer emitted keys MediaMTX 1.20.1 rejects: x' },
    });
    expect(s.phase).toBe('Failed');
    expect(s.conditions.find((c) => c.type === 'Reconciled')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(s.ingest).toBeUndefined();
  });
});

describe('status writes', () => {
  it('keeps lastTransitionTime for unchanged conditions and sees an identical status as up to date', () => {
    const d = desiredStatus(ls, { ...base, deployment: available });
    const first = withTransitions(d, undefined, '2026-01-01T00:00:00Z');
    const again = withTransitions(d, first, '2026-01-02T00:00:00Z');
    expect(again.conditions?.[0]?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(statusUpToDate(d, first)).toBe(true);
    expect(statusUpToDate(desiredStatus(ls, base), first)).toBe(false);
    expect(
      statusUpToDate(
        desiredStatus({ ...ls, metadata: { ...ls.metadata, generation: 4 } }, { ...base, deployment: available }),
        first,
      ),
    ).toBe(false);
  });
});

describe('isSubset', () => {
  it('accepts server-added fields and rejects changed or missing ones', () => {
    expect(isSubset({ a: 1, b: [{ c: 2 }] }, { a: 1, x: 9, b: [{ c: 2, d: 3 }] })).toBe(true);
    expect(isSubset({ a: 1 }, { a: 2 })).toBe(false);
    expect(isSubset({ b: [1, 2] }, { b: [1] })).toBe(false);
    expect(isSubset({ m: { k: 'v' } }, {})).toBe(false);
    expect(isSubset({ refs: [] }, { refs: [{ uid: 'x' }] })).toBe(false);
  });
});
