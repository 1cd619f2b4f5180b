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
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'show' },
      status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } },
    };
    const s = desiredStatus(ls, { ...base, service: svc });
    expect(s.ingest).toMatchObject({
      rtmp: { server: 'rtmp://203.0.113.7:1935/live', streamKey: 'show' },
      srt: 'srt://203.0.113.7:8890?streamid=publish:live/show',
    });
    expect(s.playback).toEqual({
      hls: 'http://203.0.113.7:8888/live/show/index.m3u8',
      webrtc: 'http://203.0.113.7:8889/live/show/',
    });
    expect(desiredStatus(ls, base).ingest?.rtmp?.server).toBe('rtmp://show.events.svc:1935/live');
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
