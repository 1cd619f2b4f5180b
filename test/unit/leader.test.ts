// Leader election against an in-memory Lease store with the API server's optimistic concurrency (a mock, named as
// such: the real API server is exercised by test/integration/leader.test.ts). Time is vitest's fake clock; each
// replica gets its own wall clock, skewed by up to an hour, and its own monotonic clock offset.
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Clock, LeaderElector, type Lease, type LeaseClient } from '../../src/controller/leader.ts';
import { KubeError } from '../../src/kube/rest.ts';

const HOUR = 3_600_000;
const LEASE = 15_000;
const RENEW = 10_000;
const RETRY = 2_000;
const log = pino({ level: 'silent' });

/** The Lease as the API server keeps it: writes are conditional on resourceVersion. */
class FakeApiServer {
  lease?: Lease;
  private rv = 0;
  /** Replicas whose requests fail (a partition), or hang forever. */
  readonly unreachable = new Map<string, 'fail' | 'hang'>();
  readonly writes: { by: string; at: number; spec: Lease['spec'] }[] = [];

  client(identity: string): LeaseClient {
    const call = async <T>(fn: () => T): Promise<T> => {
      await new Promise((r) => setTimeout(r, 5)); // a round trip
      const mode = this.unreachable.get(identity);
      if (mode === 'hang') await new Promise(() => {});
      if (mode === 'fail') throw new Error('connect ECONNREFUSED');
      return fn();
    };
    const store = (l: Lease) => {
      this.lease = structuredClone({ ...l, metadata: { ...l.metadata, resourceVersion: String(++this.rv) } });
      this.writes.push({ by: identity, at: Date.now(), spec: structuredClone(l.spec) });
      return structuredClone(this.lease);
    };
    return {
      get: () => call(() => (this.lease ? structuredClone(this.lease) : undefined)),
      create: (l) =>
        call(() => {
          if (this.lease) throw new KubeError(409, 'AlreadyExists', 'exists');
          return store(l);
        }),
      update: (l) =>
        call(() => {
          if (!this.lease) throw new KubeError(404, 'NotFound', 'not found');
          if (l.metadata.resourceVersion !== this.lease.metadata.resourceVersion)
            throw new KubeError(409, 'Conflict', 'the object has been modified');
          return store(l);
        }),
    };
  }
}

/** A replica: its clocks, its elector, and when it started and stopped leading (fake-clock ms). */
function replica(api: FakeApiServer, identity: string, skewMs = 0, monotonicOffset = Math.random() * 1e6) {
  const clock: Clock & { jump(ms: number): void } = {
    now: () => Date.now() + monotonicOffset,
    wall: () => new Date(Date.now() + skewMs),
    jump(ms) {
      skewMs += ms;
    },
  };
  const events: { type: 'started' | 'stopped'; at: number }[] = [];
  const elector = new LeaderElector(
    api.client(identity),
    { namespace: 'ns', name: 'vstream-controller', identity, clock, random: () => 0.5 },
    log,
  );
  const done = elector.run(
    () => events.push({ type: 'started', at: Date.now() }),
    () => events.push({ type: 'stopped', at: Date.now() }),
  );
  return { identity, clock, elector, events, done, leads: () => elector.isLeader };
}

const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);
/** Releases every replica, letting the fake clock run while their last attempts finish. */
async function stopAll(...rs: { elector: LeaderElector }[]) {
  const done = Promise.all(rs.map((r) => r.elector.release()));
  await advance(RENEW + 100);
  await done;
}
const lastWriteBy = (api: FakeApiServer, id: string) => api.writes.filter((w) => w.by === id).at(-1)!.at;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('leader election', () => {
  it('elects exactly one of two replicas and keeps it while it renews', async () => {
    const api = new FakeApiServer();
    const a = replica(api, 'a');
    await advance(100);
    const b = replica(api, 'b');
    await advance(120_000);
    expect(a.leads()).toBe(true);
    expect(b.leads()).toBe(false);
    expect(b.events).toEqual([]);
    expect(api.lease?.spec.holderIdentity).toBe('a');
    // Renewals keep acquireTime and the transition count; roughly one every retryPeriod.
    expect(api.lease?.spec.leaseTransitions).toBe(0);
    expect(api.lease?.spec.acquireTime).toBe(api.writes[0]!.spec.acquireTime);
    expect(api.writes.length).toBeGreaterThan(120_000 / RETRY / 1.1);
    await stopAll(a, b);
  });

  for (const skew of [HOUR, -HOUR]) {
    it(`a candidate whose wall clock is ${skew > 0 ? 'ahead' : 'behind'} by 1 h does not steal a live lease`, async () => {
      const api = new FakeApiServer();
      const leader = replica(api, 'leader');
      await advance(100);
      const skewed = replica(api, 'skewed', skew);
      await advance(5 * LEASE);
      expect(leader.leads()).toBe(true);
      expect(skewed.events).toEqual([]);
      await stopAll(leader, skewed);
    });

    it(`a leader whose wall clock is ${skew > 0 ? 'ahead' : 'behind'} by 1 h keeps its lease against a correct candidate`, async () => {
      const api = new FakeApiServer();
      const skewed = replica(api, 'skewed', skew);
      await advance(100);
      const candidate = replica(api, 'candidate');
      await advance(5 * LEASE);
      expect(skewed.leads()).toBe(true);
      expect(candidate.events).toEqual([]);
      // The skewed time is what it writes: informational only.
      const renew = Date.parse(api.lease!.spec.renewTime!);
      expect(Math.abs(renew - (Date.now() + skew))).toBeLessThan(3 * RETRY);
      await stopAll(skewed, candidate);
    });

    it(`a candidate ${skew > 0 ? 'ahead' : 'behind'} by 1 h takes over a dead leader's lease after leaseDuration, not an hour`, async () => {
      const api = new FakeApiServer();
      const leader = replica(api, 'leader');
      await advance(100);
      const skewed = replica(api, 'skewed', skew);
      await advance(30_000);
      api.unreachable.set('leader', 'fail'); // it crashed, or is partitioned away
      const lastRenewal = lastWriteBy(api, 'leader');
      await advance(2 * LEASE);
      const took = skewed.events.find((e) => e.type === 'started');
      expect(took, 'the skewed candidate took over').toBeDefined();
      // Not before the lease expired as the candidate saw it, and within one jittered retry after that.
      expect(took!.at - lastRenewal).toBeGreaterThanOrEqual(LEASE);
      expect(took!.at - lastRenewal).toBeLessThanOrEqual(LEASE + RETRY * (1 + 1.2) + 100);
      // The old leader had stopped leading before that.
      const stopped = leader.events.find((e) => e.type === 'stopped');
      expect(stopped!.at).toBeLessThan(took!.at);
      expect(api.lease?.spec.leaseTransitions).toBe(1);
      await stopAll(leader, skewed);
    });
  }

  it('a leader stops leading within renewDeadline when it cannot renew, even if its wall clock jumps back an hour', async () => {
    const api = new FakeApiServer();
    const leader = replica(api, 'leader');
    const other = replica(api, 'other');
    await advance(20_000);
    expect(leader.leads()).toBe(true);
    api.unreachable.set('leader', 'fail');
    const lastRenewal = lastWriteBy(api, 'leader');
    await advance(RETRY + 500); // a renewal round has begun, and failed once
    leader.clock.jump(-HOUR);
    await advance(2 * LEASE);
    const stopped = leader.events.find((e) => e.type === 'stopped')!;
    const took = other.events.find((e) => e.type === 'started')!;
    // A renewal round starts retryPeriod after the last success and gives up renewDeadline later.
    expect(stopped.at - lastRenewal).toBeLessThanOrEqual(RETRY + RENEW + 100);
    expect(stopped.at).toBeLessThan(took.at);
    expect(took.at - lastRenewal).toBeGreaterThanOrEqual(LEASE);
    await stopAll(leader, other);
  });

  it('a renewal that hangs is abandoned at renewDeadline', async () => {
    const api = new FakeApiServer();
    const leader = replica(api, 'leader');
    await advance(10_000);
    expect(leader.leads()).toBe(true);
    api.unreachable.set('leader', 'hang');
    const lastRenewal = lastWriteBy(api, 'leader');
    await advance(LEASE);
    const stopped = leader.events.find((e) => e.type === 'stopped')!;
    expect(stopped).toBeDefined();
    expect(stopped.at - lastRenewal).toBeLessThanOrEqual(RETRY + RENEW + 100);
    expect(leader.elector.check()).toBeUndefined(); // not leading: nothing stuck
    api.unreachable.delete('leader');
    const stop = leader.elector.release();
    await advance(RENEW);
    await stop;
  });

  it('leads again after an outage (a candidate again, not a dead replica)', async () => {
    const api = new FakeApiServer();
    const r = replica(api, 'only');
    await advance(5_000);
    api.unreachable.set('only', 'fail');
    await advance(30_000);
    expect(r.leads()).toBe(false);
    api.unreachable.delete('only');
    await advance(5_000);
    expect(r.leads()).toBe(true);
    expect(r.events.map((e) => e.type)).toEqual(['started', 'stopped', 'started']);
    await stopAll(r);
  });

  it('release() hands over at once: the candidate does not wait for expiry', async () => {
    const api = new FakeApiServer();
    const a = replica(api, 'a');
    await advance(100);
    const b = replica(api, 'b');
    await advance(30_000);
    const released = a.elector.release();
    await advance(50);
    await released;
    expect(a.events.map((e) => e.type)).toEqual(['started', 'stopped']);
    expect(api.lease?.spec.holderIdentity).toBe('');
    const at = Date.now();
    await advance(2 * RETRY * 2.2);
    const took = b.events.find((e) => e.type === 'started')!;
    expect(took.at - at).toBeLessThanOrEqual(RETRY * (1 + 1.2) + 100);
    await stopAll(b);
  });

  it('two candidates racing for a free lease: the resourceVersion precondition lets exactly one win', async () => {
    const api = new FakeApiServer();
    const rs = Array.from({ length: 5 }, (_, i) => replica(api, `r${i}`, (i - 2) * HOUR));
    await advance(60_000);
    expect(rs.filter((r) => r.leads()).length).toBe(1);
    expect(rs.flatMap((r) => r.events).length).toBe(1);
    await stopAll(...rs);
  });

  it('check() reports a leader that has not renewed for leaseDuration + tolerance (a stuck loop)', async () => {
    const api = new FakeApiServer();
    const r = replica(api, 'only');
    await advance(5_000);
    expect(r.elector.check(1_000)).toBeUndefined();
    // Freeze the loop's view of time passing: its timers never fire, but the monotonic clock moves on.
    vi.setSystemTime(Date.now() + LEASE + 2_000);
    expect(r.elector.check(1_000)?.message).toMatch(/not renewed/);
    const stop = r.elector.release();
    await advance(RENEW);
    await stop;
  });

  it('rejects durations client-go rejects', () => {
    const mk = (o: object) =>
      new LeaderElector(new FakeApiServer().client('x'), { namespace: 'n', name: 'l', identity: 'x', ...o }, log);
    expect(() => mk({ leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(/leaseDuration must be greater/);
    expect(() => mk({ renewDeadlineMs: 2_400, retryPeriodMs: 2_000 })).toThrow(/renewDeadline must be greater/);
    expect(() => mk({ retryPeriodMs: 0 })).toThrow(/retryPeriod must be greater than zero/);
    expect(() => mk({ leaseDurationMs: 900, renewDeadlineMs: 500, retryPeriodMs: 100 })).toThrow(/at least 1s/);
    expect(() => mk({})).not.toThrow();
  });
});
