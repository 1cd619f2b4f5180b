// Leader election against the real API server (its resourceVersion preconditions and MicroTime round trips), with
// replicas whose wall clocks are an hour ahead and an hour behind. Short durations keep the test quick; the
// ratios are the defaults' (lease 15 s : renew 10 s : retry 2 s).
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import {
  type Clock,
  kubeLeaseClient,
  LeaderElector,
  type Lease,
  type LeaseClient,
} from '../../src/controller/leader.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';

const LEASE = 4_000;
const RENEW = 3_000;
const RETRY = 500;
const HOUR = 3_600_000;
const log = pino({ level: 'silent' });
const c = clients();

const skewed = (ms: number): Clock => ({ now: () => performance.now(), wall: () => new Date(Date.now() + ms) });

/** A replica whose API traffic can be cut (a partition, or a crash that leaves the lease behind). */
function replica(ns: string, identity: string, skewMs: number) {
  const real = kubeLeaseClient(c.kube, ns, 'vstream-controller');
  let cut = false;
  const guard =
    <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
    (...a: A) =>
      cut ? Promise.reject(new Error('partitioned')) : f(...a);
  const client: LeaseClient = { get: guard(real.get), create: guard(real.create), update: guard(real.update) };
  const events: { type: 'started' | 'stopped'; at: number }[] = [];
  const elector = new LeaderElector(
    client,
    {
      namespace: ns,
      name: 'vstream-controller',
      identity,
      leaseDurationMs: LEASE,
      renewDeadlineMs: RENEW,
      retryPeriodMs: RETRY,
      clock: skewed(skewMs),
    },
    log,
  );
  void elector.run(
    () => events.push({ type: 'started', at: performance.now() }),
    () => events.push({ type: 'stopped', at: performance.now() }),
  );
  return {
    elector,
    events,
    cut: () => {
      cut = true;
    },
    started: () => events.find((e) => e.type === 'started')?.at,
    stopped: () => events.find((e) => e.type === 'stopped')?.at,
  };
}

const lease = (ns: string) =>
  c.kube.get<Lease>(resourcePath('coordination.k8s.io/v1', 'Lease', ns, 'vstream-controller'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('leader election on a real API server with skewed clocks', () => {
  it('no replica steals a live lease or keeps a dead one, whatever its wall clock says', async () => {
    const ns = await freshNamespace(c.core, 'skew');
    const a = replica(ns, 'a-correct', 0);
    await waitUntil('a leads', async () => a.elector.isLeader, 20_000, 50);

    // b's clock is an hour ahead: a's renewTime looks an hour old to it, yet a renews, so b waits.
    const b = replica(ns, 'b-ahead', HOUR);
    await sleep(3 * LEASE);
    expect(a.elector.isLeader).toBe(true);
    expect(b.events).toEqual([]);
    expect((await lease(ns)).spec.holderIdentity).toBe('a-correct');

    // a is partitioned away (as good as crashed): it stops leading within renewDeadline of its last renewal, and b
    // takes over once a leaseDuration has passed without the record changing — not an hour early or late.
    const lastRenewal = performance.now();
    a.cut();
    await waitUntil('b takes over', async () => b.elector.isLeader, 4 * LEASE, 50);
    const took = b.started()!;
    expect(a.stopped()).toBeDefined();
    expect(a.stopped()!).toBeLessThan(took);
    expect(a.stopped()! - lastRenewal).toBeLessThan(RETRY + RENEW + 500);
    expect(took - lastRenewal).toBeGreaterThanOrEqual(LEASE - RETRY);
    expect(took - lastRenewal).toBeLessThan(LEASE + RETRY * 2.2 + 1_500);
    const held = await lease(ns);
    expect(held.spec.holderIdentity).toBe('b-ahead');
    expect(held.spec.leaseTransitions).toBe(1);
    // What b writes is its own (skewed) time: informational only.
    expect(Date.parse(held.spec.renewTime!) - Date.now()).toBeGreaterThan(HOUR - 10_000);

    // d's clock is an hour behind: b's renewTime looks two hours in the future to it; it still waits, and takes
    // over promptly when b releases the lease.
    const d = replica(ns, 'd-behind', -HOUR);
    await sleep(3 * LEASE);
    expect(b.elector.isLeader).toBe(true);
    expect(d.events).toEqual([]);
    const releasedAt = performance.now();
    await b.elector.release();
    expect((await lease(ns)).spec.holderIdentity).toBe('');
    await waitUntil('d takes over', async () => d.elector.isLeader, 3 * LEASE, 50);
    expect(d.started()! - releasedAt).toBeLessThan(RETRY * 2.2 + 1_000);
    expect((await lease(ns)).spec.leaseTransitions).toBe(2);

    await d.elector.release();
    a.cut();
    await a.elector.release();
  });
});
