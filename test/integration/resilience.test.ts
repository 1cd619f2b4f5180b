// The controller as a real process: SIGKILLed mid-reconcile, two replicas electing a leader, and an API server
// that restarts under it.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startCluster } from '../../dev/cluster.ts';
import type { LiveStream } from '../../src/api/livestream.ts';
import { Kube, type KubeObject } from '../../src/kube/rest.ts';
import { STREAM_LABEL } from '../../src/render/names.ts';
import {
  type ChildController,
  childController,
  createStream,
  inProcessController,
  streamPath,
  waitPhase,
} from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';

const c = clients();
const kube = c.kube;
const existing = inject('clusterTier') === 'existing';
const running: ChildController[] = [];

beforeAll(async () => {
  await installCrd(kube);
});
afterAll(async () => {
  for (const p of running) await p.kill('SIGKILL');
});

async function leaderStatus(ctl: ChildController): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${ctl.metrics}/metrics`)).text();
    const m = /leader_election_master_status\{name="vstream-controller"\} (\d)/.exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return undefined;
  }
}

describe('a controller SIGKILLed mid-reconcile', () => {
  it('converges after a restart with no duplicates and no orphans', async () => {
    const ns = await freshNamespace(c.core, 'kill');
    const first = await childController();
    running.push(first);
    const N = 20;
    await Promise.all(Array.from({ length: N }, (_, i) => createStream(kube, ns, `s${i}`)));
    await waitUntil(
      'some children exist',
      async () =>
        (await kube.list(`/api/v1/namespaces/${ns}/configmaps`, { labelSelector: STREAM_LABEL })).items.length >= 3,
      60_000,
      20,
    );
    await first.kill('SIGKILL');

    const second = await childController();
    running.push(second);
    for (let i = 0; i < N; i++) await waitPhase(kube, ns, `s${i}`, 'Ready', 120_000);

    const streams = (await kube.list(streamPath(ns))).items as unknown as LiveStream[];
    const uids = new Set(streams.map((s) => s.metadata.uid));
    for (const kind of ['configmaps', 'services', 'secrets']) {
      const items = (await kube.list(`/api/v1/namespaces/${ns}/${kind}`, { labelSelector: STREAM_LABEL })).items;
      const perStream = countBy(items);
      const expected = kind === 'configmaps' ? 1 : 2;
      for (let i = 0; i < N; i++) expect(perStream.get(`s${i}`), `${kind} of s${i}`).toBe(expected);
      for (const o of items) expect(uids.has(o.metadata.ownerReferences?.[0]?.uid ?? '')).toBe(true);
    }
    const deps = (await kube.list(`/apis/apps/v1/namespaces/${ns}/deployments`, { labelSelector: STREAM_LABEL })).items;
    expect(deps.length).toBe(N);
    await second.kill();
  });
});

describe('two replicas with leader election', () => {
  it('elect exactly one leader, and fail over when it is killed', async () => {
    const ns = await freshNamespace(c.core, 'lease');
    const a = await childController(['--leader-elect', '--lease-namespace', ns]);
    const b = await childController(['--leader-elect', '--lease-namespace', ns]);
    running.push(a, b);
    const [leader, follower] = await waitUntil(
      'one leader',
      async () => {
        const [la, lb] = await Promise.all([leaderStatus(a), leaderStatus(b)]);
        if (la === 1 && lb === 0) return [a, b] as const;
        if (lb === 1 && la === 0) return [b, a] as const;
        return undefined;
      },
      60_000,
    );
    await createStream(kube, ns, 'before');
    await waitPhase(kube, ns, 'before', 'Ready');
    // Both stay up for a while: still exactly one leader.
    await new Promise((r) => setTimeout(r, 3000));
    expect([await leaderStatus(leader), await leaderStatus(follower)]).toEqual([1, 0]);

    const killedAt = Date.now();
    await leader.kill('SIGKILL');
    await waitUntil('follower takes over', async () => (await leaderStatus(follower)) === 1, 40_000, 100);
    const failoverMs = Date.now() - killedAt;
    console.log(`[leader] failover after SIGKILL took ${failoverMs}ms`);
    expect(failoverMs).toBeLessThan(25_000);
    await createStream(kube, ns, 'after');
    await waitPhase(kube, ns, 'after', 'Ready');

    // A graceful stop releases the lease: the next replica takes over without waiting for expiry.
    const c3 = await childController(['--leader-elect', '--lease-namespace', ns]);
    running.push(c3);
    await waitUntil('third replica synced', async () => (await leaderStatus(c3)) === 0, 30_000);
    const stoppedAt = Date.now();
    await follower.kill('SIGTERM');
    await waitUntil('third takes over', async () => (await leaderStatus(c3)) === 1, 30_000, 100);
    console.log(`[leader] handover after SIGTERM took ${Date.now() - stoppedAt}ms`);
    expect(Date.now() - stoppedAt).toBeLessThan(8_000);
    await c3.kill();
  });
});

describe('an API server restart', () => {
  it('is survived: informers reconnect and the controller converges', async () => {
    if (existing) return;
    const cluster = await startCluster({ tier: 'fast' });
    const k = await Kube.load(cluster.kubeconfig);
    const ctl = await (async () => {
      await installCrd(k);
      return inProcessController({ kubeconfig: cluster.kubeconfig });
    })();
    try {
      await createStream(k, 'default', 'one');
      await waitUntil(
        'children of one',
        async () =>
          (await k.list('/api/v1/namespaces/default/configmaps', { labelSelector: STREAM_LABEL })).items.length === 1,
      );
      await cluster.restartApiServer();
      await createStream(k, 'default', 'two');
      await waitUntil(
        'two reconciled after the restart',
        async () => {
          const ls = await k.get<LiveStream>(streamPath('default', 'two'));
          return (
            ls.status?.observedGeneration === 1 &&
            ls.status.conditions?.some((x) => x.type === 'Reconciled' && x.status === 'True')
          );
        },
        90_000,
      );
    } finally {
      await ctl.shutdown();
      await cluster.stop();
    }
  });
});

function countBy(items: KubeObject[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of items) {
    const s = o.metadata.labels?.[STREAM_LABEL] ?? '';
    m.set(s, (m.get(s) ?? 0) + 1);
  }
  return m;
}
