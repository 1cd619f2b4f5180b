// What the controller's caches keep: shared strings (./intern.ts) and lean children (children.ts).
import { describe, expect, it } from 'vitest';
import { isLean, leanChild } from '../../src/controller/children.ts';
import { Interner } from '../../src/controller/intern.ts';
import type { KubeObject } from '../../src/kube/rest.ts';

const service = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 's1', namespace: 'ns', resourceVersion: '7', uid: 'u-1', labels: { a: 'b' } },
  spec: {
    type: 'NodePort',
    selector: { app: 's1' },
    clusterIP: '10.0.0.1',
    clusterIPs: ['10.0.0.1'],
    ipFamilies: ['IPv4'],
    ports: [{ name: 'rtmp', protocol: 'TCP', port: 1935, targetPort: 1935, nodePort: 31935 }],
  },
  status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } },
});

describe('interning', () => {
  it('keeps one table entry per distinct short value, and none for per-object values', () => {
    const t = new Interner();
    const a = t.value(JSON.parse(JSON.stringify(service())) as KubeObject);
    const b = t.value(JSON.parse(JSON.stringify(service())) as KubeObject);
    expect(a).toEqual(service()); // values unchanged
    expect(b).toEqual(service());
    const values = new Set<string>();
    const walk = (v: unknown, k = ''): void => {
      if (typeof v === 'string' && !['resourceVersion', 'uid', 'clusterIP'].includes(k)) values.add(v);
      else if (Array.isArray(v)) for (const x of v) walk(x, k === 'clusterIPs' ? 'clusterIP' : '');
      else if (v && typeof v === 'object') for (const [kk, x] of Object.entries(v)) walk(x, kk);
    };
    walk(service());
    expect(t.size).toBe(values.size);
  });

  it('leaves long strings alone and starts over when the table is full', () => {
    const t = new Interner(3);
    t.value({ long: 'x'.repeat(300) });
    expect(t.size).toBe(0);
    t.value(['a', 'b', 'c']);
    expect(t.size).toBe(3);
    t.value(['d']);
    expect(t.size).toBe(1);
  });
});

describe('lean children', () => {
  it('keeps of a Service what a render reads back, and marks it lean', () => {
    const lean = leanChild('Service', service());
    expect(lean.spec).toEqual({
      type: 'NodePort',
      ports: [{ name: 'rtmp', protocol: 'TCP', port: 1935, nodePort: 31935 }],
    });
    expect(lean.status).toEqual(service().status);
    expect(lean.metadata.labels).toEqual({ a: 'b' });
    expect(isLean('Service', lean)).toBe(true);
    expect(isLean('Service', service())).toBe(false);
  });

  it('does not shrink kinds the reconciler compares from the cache', () => {
    const pvc = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'p' }, spec: { x: 1 } };
    expect(leanChild('PersistentVolumeClaim', pvc)).toBe(pvc);
    expect(isLean('PersistentVolumeClaim', pvc)).toBe(false);
  });
});
