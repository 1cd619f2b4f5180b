// The edge against a real API server: node ports the API server allocates reach status (with the controller's
// --node-address) and MediaMTX's ICE listeners in the first pass; a load balancer without an address is pending,
// and kubectl's columns say so; a broken TLS Secret reaches status through the watch, not a poll.
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { ConditionType, Reason } from '../../src/api/conditions.ts';
import type { LiveStream } from '../../src/api/livestream.ts';
import type { runController } from '../../src/controller/main.ts';
import { type KubeObject, resourcePath } from '../../src/kube/rest.ts';
import { selfSigned, tlsSecret } from '../support/certs.ts';
import { createStream, inProcessController, streamPath, waitPhase } from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';

const c = clients();
const kube = c.kube;
const existing = inject('clusterTier') === 'existing';
let ns: string;
let ctl: Awaited<ReturnType<typeof runController>> | undefined;
const NODE = '198.51.100.4';

beforeAll(async () => {
  await installCrd(kube);
  ns = await freshNamespace(c.core, 'edge');
  if (!existing) ctl = await inProcessController({ nodeAddress: NODE });
});
afterAll(async () => {
  await ctl?.shutdown();
});
const d = existing ? describe.skip : describe;

const get = <T = KubeObject>(kind: string, name: string, apiVersion = 'v1') =>
  kube.get<T>(resourcePath(apiVersion, kind, ns, name));
const cond = (ls: LiveStream, type: string) => ls.status?.conditions?.find((x) => x.type === type);

/** `kubectl get livestreams`: the API server's Table rendering of the CRD's printer columns. */
async function table(): Promise<Record<string, Record<string, unknown>>> {
  const kc = c.kc;
  const opts: { headers?: Record<string, string> } & Record<string, unknown> = {};
  await kc.applyToHTTPSOptions(opts as never);
  const url = new URL(`${kc.getCurrentCluster()!.server}/apis/vstream.io/v1alpha1/namespaces/${ns}/livestreams`);
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(
      url,
      { ...opts, headers: { ...opts.headers, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } },
      (res) => {
        let s = '';
        res.on('data', (b) => {
          s += String(b);
        });
        res.on('end', () => resolve(s));
      },
    );
    req.on('error', reject);
    req.end();
  });
  const t = JSON.parse(body) as { columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] };
  const cols = t.columnDefinitions.map((x) => x.name);
  return Object.fromEntries(
    t.rows.map((r) => [String(r.cells[0]), Object.fromEntries(cols.map((n, i) => [n, r.cells[i]]))]),
  );
}

d('endpoints from the API server', () => {
  it('NodePort: the allocated node ports with --node-address in status, and in MediaMTX’s ICE listeners from the first pod', async () => {
    await createStream(kube, ns, 'np', {
      ingest: { protocols: ['rtmp', 'srt'] },
      playback: { protocols: ['hls', 'webrtc'] },
      service: { type: 'NodePort' },
    });
    const ls = await waitPhase(kube, ns, 'np', 'Ready');
    const svc = await get<{ spec: { ports: { name: string; protocol: string; nodePort: number }[] } }>('Service', 'np');
    const np = (name: string) => svc.spec.ports.find((p) => p.name === name)!.nodePort;
    expect(ls.status?.ingest?.rtmp?.server).toBe(`rtmp://${NODE}:${np('rtmp')}/live`);
    expect(ls.status?.ingest?.srt).toBe(`srt://${NODE}:${np('srt')}?streamid=publish:live/np`);
    expect(ls.status?.playback?.hls).toBe(`http://${NODE}:${np('hls')}/live/np/index.m3u8`);
    expect(cond(ls, ConditionType.EndpointsReady)).toMatchObject({ status: 'True', reason: Reason.NodePort });
    const config = parse(
      (await get<{ data: Record<string, string> }>('ConfigMap', 'np-mediamtx')).data['mediamtx.yml']!,
    );
    expect(config).toMatchObject({
      webrtcLocalUDPAddress: `:${np('webrtc-ice')}`,
      webrtcLocalTCPAddress: `:${np('webrtc-ice-tcp')}`,
      webrtcAdditionalHosts: [NODE],
      webrtcIPsFromInterfaces: false,
    });
    const dep = await get<{
      metadata: { generation: number };
      spec: { template: { spec: { containers: { ports: { name: string; containerPort: number }[] }[] } } };
    }>('Deployment', 'np', 'apps/v1');
    expect(dep.spec.template.spec.containers[0]!.ports).toContainEqual(
      expect.objectContaining({ name: 'webrtc-ice', containerPort: np('webrtc-ice') }),
    );
    // Rendered once, with the node ports: the first pod never had to roll for them.
    expect(dep.metadata.generation).toBe(1);
    const row = (await table()).np!;
    expect(row.Ingest).toBe(`rtmp://${NODE}:${np('rtmp')}/live`);
    expect(row.Endpoints).toBe('NodePort');
  });

  it('LoadBalancer: pending, said so in status and by kubectl, then the address once a load balancer sets it', async () => {
    await createStream(kube, ns, 'lb', { service: { type: 'LoadBalancer' } });
    const ls = await waitPhase(kube, ns, 'lb', 'Ready');
    expect(ls.status?.endpoints).toEqual({ scope: 'Pending' });
    expect(ls.status?.ingest?.rtmp).toEqual({ streamKey: 'lb' });
    expect(cond(ls, ConditionType.EndpointsReady)).toMatchObject({
      status: 'False',
      reason: Reason.LoadBalancerPending,
    });
    const pending = (await table()).lb!;
    expect(pending.Endpoints).toBe('LoadBalancerPending');
    expect(pending.Ingest ?? '').toBe('');

    await kube.mergePatch(`${resourcePath('v1', 'Service', ns, 'lb')}/status`, {
      status: { loadBalancer: { ingress: [{ ip: '2001:db8::7' }] } },
    });
    const ready = await waitUntil('address in status', async () => {
      const s = await kube.get<LiveStream>(streamPath(ns, 'lb'));
      return s.status?.endpoints?.host ? s : undefined;
    });
    expect(ready.status?.ingest?.url).toBe('rtmp://[2001:db8::7]:1935/live');
    expect((await table()).lb!.Endpoints).toBe('LoadBalancer');
  });
});

d('a TLS Secret, watched', () => {
  it('a certificate replaced by a broken one shows in status within seconds, with the reason and the Secret', async () => {
    const good = selfSigned({ dns: ['live.example.com'] });
    const other = selfSigned({ dns: ['live.example.com'] });
    await kube.create(tlsSecret('w-tls', ns, good) as never);
    await createStream(kube, ns, 'w', {
      service: { externalHost: 'live.example.com' },
      tls: { secretRef: { name: 'w-tls' } },
    });
    const ls = await waitPhase(kube, ns, 'w', 'Ready');
    expect(cond(ls, ConditionType.SecretsResolved)?.message).toMatch(/valid until 20\d\d-/);
    expect(ls.status?.ingest?.rtmp?.server).toBe('rtmps://live.example.com:1936/live');
    const dep = JSON.stringify(await get('Deployment', 'w', 'apps/v1'));
    expect(dep).toContain('MTX_RTMPENCRYPTION');
    expect(JSON.stringify(await get('ConfigMap', 'w-mediamtx'))).not.toMatch(/BEGIN|w-tls/);

    const started = Date.now();
    await kube.mergePatch(resourcePath('v1', 'Secret', ns, 'w-tls'), {
      data: { 'tls.key': Buffer.from(other.key).toString('base64') },
    });
    const bad = await waitUntil(
      'CertificateInvalid',
      async () => {
        const x = cond(await kube.get<LiveStream>(streamPath(ns, 'w')), ConditionType.SecretsResolved);
        return x?.reason === Reason.CertificateInvalid && x;
      },
      15_000,
    );
    console.log(`[integration] broken TLS Secret -> CertificateInvalid in status: ${Date.now() - started}ms`);
    expect(bad.message).toContain(`Secret ${ns}/w-tls: tls.key is not the private key`);
  });
});
