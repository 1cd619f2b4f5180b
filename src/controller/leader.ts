// Lease-based leader election (coordination.k8s.io/v1) with client-go's semantics
// (k8s.io/client-go/tools/leaderelection):
//
// - Expiry is judged on this replica's own monotonic clock: a lease is live until leaseDurationSeconds (the holder's)
//   have passed since this replica last saw the lease record change. The holder's renewTime is written for humans
//   and never compared with our clock, so replicas whose wall clocks disagree by an hour neither steal a live lease
//   nor wait an hour for a dead one. (What it does not tolerate is clocks running at different *rates*; that margin
//   is leaseDuration / renewDeadline.)
// - A candidate tries every retryPeriod (jittered by up to 1.2 × retryPeriod, so candidates do not move in step).
// - The leader renews every retryPeriod; each renewal round retries for at most renewDeadline, and when a round
//   fails the replica stops leading (onStopped) — before leaseDuration has passed, i.e. before a candidate can take
//   over. leaseDuration > renewDeadline > 1.2 × retryPeriod is enforced, as client-go does.
// - Writes carry the resourceVersion that was read (PUT): two candidates racing for an expired lease cannot both win.
// - release() on shutdown empties the holder, so a successor takes over without waiting for expiry.
//
// One deliberate difference: client-go's Run returns after leadership is lost (and callers exit); run() here goes back
// to being a candidate, so a replica that lost the lease during an API outage can lead again without a restart.
import type { Logger } from 'pino';
import { HttpMethod, isNotFound, Kube, resourcePath } from '../kube/rest.ts';

/** Time as the elector sees it: a monotonic clock for every duration, a wall clock only for the timestamps it writes. */
export interface Clock {
  /** Milliseconds on a monotonic clock (never jumps with NTP or a manual date change). */
  now(): number;
  /** Wall-clock time, written to the Lease as acquireTime/renewTime (informational). */
  wall(): Date;
}

export const systemClock: Clock = { now: () => performance.now(), wall: () => new Date() };

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; [k: string]: unknown };
  spec: LeaseSpec;
}

/** The three calls the elector makes. A write that loses a race must reject (409 from the API server). */
export interface LeaseClient {
  /** The Lease, or undefined when it does not exist. */
  get(signal: AbortSignal): Promise<Lease | undefined>;
  create(lease: Lease, signal: AbortSignal): Promise<Lease>;
  /** Replaces the Lease; rejects unless metadata.resourceVersion is still current. */
  update(lease: Lease, signal: AbortSignal): Promise<Lease>;
}

export function kubeLeaseClient(kube: Kube, namespace: string, name: string): LeaseClient {
  const path = resourcePath('coordination.k8s.io/v1', 'Lease', namespace, name);
  return {
    get: (signal) =>
      kube.request<Lease>(HttpMethod.GET, path, { signal }).catch((e) => {
        if (isNotFound(e)) return undefined;
        throw e;
      }),
    create: (lease, signal) =>
      kube.request<Lease>(HttpMethod.POST, resourcePath('coordination.k8s.io/v1', 'Lease', namespace), {
        body: lease,
        signal,
      }),
    update: (lease, signal) => kube.request<Lease>(HttpMethod.PUT, path, { body: lease, signal }),
  };
}

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  /** How long candidates wait, without seeing the record change, before taking over. Default 15 s. */
  leaseDurationMs?: number;
  /** How long the leader retries a renewal before it stops leading. Default 10 s. */
  renewDeadlineMs?: number;
  /** Time between attempts. Default 2 s. */
  retryPeriodMs?: number;
  clock?: Clock;
  /** For tests: the jitter source (0 ≤ x < 1). */
  random?: () => number;
  /** Called with the holder's identity whenever a different holder is observed ('' when released). */
  onNewLeader?: (identity: string) => void;
}

/** client-go's JitterFactor: a candidate waits retryPeriod plus up to 1.2 × retryPeriod between attempts. */
export const JITTER_FACTOR = 1.2;

// RFC 3339 with microseconds, the MicroTime format the API server stores.
const microTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** What counts as "the record changed": client-go compares the serialized election record, not resourceVersion. */
const recordKey = (s: LeaseSpec) =>
  JSON.stringify([
    s.holderIdentity ?? '',
    s.leaseDurationSeconds ?? 0,
    s.acquireTime ?? '',
    s.renewTime ?? '',
    s.leaseTransitions ?? 0,
  ]);

export class LeaderElector {
  /** True between onStarted and onStopped. */
  isLeader = false;
  /** Wall-clock ms of the last successful acquire or renewal (for health checks comparing with Date.now()). */
  lastRenew = 0;

  private stopped = false;
  private readonly wake = new AbortController();
  private running?: Promise<void>;
  /** The Lease as last read or written (its resourceVersion is what the next write is conditional on). */
  private lease?: Lease;
  /** The election record last observed, and when (monotonic ms) it was first seen in that state. */
  private observed?: { key: string; spec: LeaseSpec; at: number };
  private reportedLeader?: string;
  private readonly client: LeaseClient;
  private readonly o: Required<Omit<LeaderOptions, 'onNewLeader'>> & Pick<LeaderOptions, 'onNewLeader'>;
  private readonly log: Logger;

  constructor(source: Kube | LeaseClient, opts: LeaderOptions, log: Logger) {
    this.o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      clock: systemClock,
      random: Math.random,
      ...opts,
    };
    validateDurations(this.o);
    this.client = source instanceof Kube ? kubeLeaseClient(source, opts.namespace, opts.name) : source;
    this.log = log.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  /** The holder in the record last observed ('' when none). */
  get leader(): string {
    return this.observed?.spec.holderIdentity ?? '';
  }

  /**
   * Runs until release(): calls onStarted when this replica becomes leader and onStopped when it stops leading
   * (a renewal round failed for renewDeadline, or release()). Resolves once stopped.
   */
  run(onStarted: () => void, onStopped: () => void): Promise<void> {
    this.running ??= this.loop(onStarted, onStopped);
    return this.running;
  }

  private async loop(onStarted: () => void, onStopped: () => void): Promise<void> {
    while (!this.stopped) {
      if (!(await this.acquire())) return;
      this.isLeader = true;
      this.log.info('became leader');
      onStarted();
      await this.renew();
      this.isLeader = false;
      if (!this.stopped) this.log.warn('lost leadership: could not renew the lease within renewDeadline');
      onStopped();
    }
  }

  /** client-go's acquire: attempt, then wait retryPeriod × (1 + up to 1.2), until an attempt succeeds. */
  private async acquire(): Promise<boolean> {
    this.log.info('attempting to acquire the lease');
    while (!this.stopped) {
      if (await this.attempt(this.o.clock.now() + this.o.renewDeadlineMs)) return true;
      await this.sleep(this.o.retryPeriodMs * (1 + this.o.random() * JITTER_FACTOR));
    }
    return false;
  }

  /**
   * client-go's renew: rounds every retryPeriod; a round retries every retryPeriod until it succeeds or renewDeadline
   * has passed since it began. Returns when a round fails or the elector is stopped.
   */
  private async renew(): Promise<void> {
    while (!this.stopped) {
      const deadline = this.o.clock.now() + this.o.renewDeadlineMs;
      let renewed = false;
      while (!this.stopped && !renewed) {
        const started = this.o.clock.now();
        if (started >= deadline) return;
        renewed = await this.attempt(deadline);
        if (!renewed) await this.sleep(Math.min(started + this.o.retryPeriodMs, deadline) - this.o.clock.now());
      }
      if (!renewed) return;
      await this.sleep(this.o.retryPeriodMs);
    }
  }

  /** One tryAcquireOrRenew, abandoned at the deadline even if the request hangs. */
  private async attempt(deadline: number): Promise<boolean> {
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new Error('deadline exceeded')),
      Math.max(0, deadline - this.o.clock.now()),
    );
    const timedOut = new Promise<false>((resolve) => abort.signal.addEventListener('abort', () => resolve(false)));
    try {
      return await Promise.race([this.tryAcquireOrRenew(abort.signal), timedOut]);
    } catch (e) {
      this.log.warn({ error: (e as Error).message }, 'lease update failed');
      return false;
    } finally {
      clearTimeout(timer);
      abort.abort();
      this.reportTransition();
    }
  }

  private leaseValid(now: number): boolean {
    const o = this.observed;
    return Boolean(o && o.at + (o.spec.leaseDurationSeconds ?? 0) * 1000 > now);
  }

  private observedHolderIsMe(): boolean {
    return this.observed?.spec.holderIdentity === this.o.identity;
  }

  /** Records a lease as read or written; the observation time moves only when the election record changed. */
  private observe(lease: Lease, signal: AbortSignal, wrote: boolean): void {
    if (signal.aborted) return; // a late answer to an abandoned attempt must not move the clock
    this.lease = lease;
    const key = recordKey(lease.spec);
    if (wrote || key !== this.observed?.key) this.observed = { key, spec: lease.spec, at: this.o.clock.now() };
    if (wrote && lease.spec.holderIdentity === this.o.identity) this.lastRenew = this.o.clock.wall().getTime();
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const wallNow = microTime(this.o.clock.wall());
    const record: LeaseSpec = {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.floor(this.o.leaseDurationMs / 1000),
      acquireTime: wallNow,
      renewTime: wallNow,
    };
    const write = async (base: Lease, spec: LeaseSpec) => {
      this.observe(await this.client.update({ ...base, spec }, signal), signal, true);
      return true;
    };

    // 1. The leader's fast path: write on top of the lease it last saw; on any failure, read and decide again.
    if (this.lease && this.observedHolderIsMe() && this.leaseValid(this.o.clock.now())) {
      const prev = this.observed!.spec;
      try {
        return await write(this.lease, {
          ...record,
          acquireTime: prev.acquireTime ?? wallNow,
          leaseTransitions: prev.leaseTransitions ?? 0,
        });
      } catch (e) {
        if (signal.aborted) throw e;
        this.log.debug({ error: (e as Error).message }, 'optimistic renewal failed; reading the lease');
      }
    }

    // 2. Read, or create when there is none.
    const current = await this.client.get(signal);
    if (!current) {
      const created = await this.client.create(
        {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: { ...record, leaseTransitions: 0 },
        },
        signal,
      );
      this.observe(created, signal, true);
      return true;
    }
    this.observe(current, signal, false);

    // 3. Someone else holds it and we have not yet watched it go unchanged for its leaseDuration: leave it.
    const holder = current.spec.holderIdentity ?? '';
    if (holder && holder !== this.o.identity && this.leaseValid(this.o.clock.now())) return false;

    // 4. Renew (keep acquireTime and the transition count) or take over (count one more transition).
    const mine = holder === this.o.identity;
    return write(current, {
      ...record,
      ...(mine
        ? { acquireTime: current.spec.acquireTime ?? wallNow, leaseTransitions: current.spec.leaseTransitions ?? 0 }
        : { leaseTransitions: (current.spec.leaseTransitions ?? 0) + 1 }),
    });
  }

  private reportTransition(): void {
    const holder = this.leader;
    if (holder === this.reportedLeader) return;
    this.reportedLeader = holder;
    if (holder && holder !== this.o.identity) this.log.info({ leader: holder }, 'new leader observed');
    this.o.onNewLeader?.(holder);
  }

  /**
   * client-go's Check (the /healthz adaptor): an error when this replica leads but has not seen its own renewal for
   * leaseDuration + maxTolerableExpiredMs — it should have stopped leading by then, so something is stuck.
   */
  check(maxTolerableExpiredMs = 20_000): Error | undefined {
    if (!this.isLeader || !this.observed) return undefined;
    const since = this.o.clock.now() - this.observed.at;
    if (since > this.o.leaseDurationMs + maxTolerableExpiredMs)
      return new Error(
        `leader election: lease ${this.o.namespace}/${this.o.name} not renewed for ${Math.round(since)}ms`,
      );
    return undefined;
  }

  /**
   * Stops the loop (after its current attempt) and, if this replica holds the lease, releases it so a successor
   * takes over without waiting for it to expire.
   */
  async release(): Promise<void> {
    this.stopped = true;
    this.wake.abort();
    await this.running;
    const lease = this.lease;
    if (!lease || !this.observedHolderIsMe()) return;
    const now = microTime(this.o.clock.wall());
    const spec: LeaseSpec = {
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: this.observed?.spec.leaseTransitions ?? 0,
    };
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.o.renewDeadlineMs);
    try {
      // Conditional on the version we last wrote: if someone took over since, there is nothing of ours to release.
      this.observe(await this.client.update({ ...lease, spec }, abort.signal), abort.signal, true);
      this.log.info('released lease');
    } catch (e) {
      this.log.warn({ error: (e as Error).message }, 'cannot release lease');
    } finally {
      clearTimeout(timer);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake.signal.addEventListener('abort', done);
    });
  }
}

function validateDurations(o: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number }): void {
  const { leaseDurationMs: lease, renewDeadlineMs: renew, retryPeriodMs: retry } = o;
  for (const [name, v] of [
    ['leaseDuration', lease],
    ['renewDeadline', renew],
    ['retryPeriod', retry],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`leader election: ${name} must be greater than zero`);
  }
  // The Lease stores whole seconds; anything shorter would be written as 0 and read by everyone as expired.
  if (lease < 1000) throw new Error('leader election: leaseDuration must be at least 1s');
  if (lease <= renew) throw new Error('leader election: leaseDuration must be greater than renewDeadline');
  if (renew <= JITTER_FACTOR * retry)
    throw new Error(`leader election: renewDeadline must be greater than retryPeriod × ${JITTER_FACTOR}`);
}
