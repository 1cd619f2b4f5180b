// Lease-based leader election (coordination.k8s.io/v1), with client-go's semantics: acquire when the lease is
// free or expired, renew every retryPeriod, give up at once when a renewal fails past renewDeadline, and release
// on shutdown so a successor does not wait for the lease to expire. Writes use resourceVersion preconditions.
import type { Logger } from 'pino';
import { HttpMethod, isConflict, isNotFound, type Kube, resourcePath } from '../kube/rest.ts';

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const microTime = (d = new Date()) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  isLeader = false;
  lastRenew = 0;
  private stopped = false;
  private readonly kube: Kube;
  private readonly o: Required<LeaderOptions>;
  private readonly log: Logger;

  constructor(kube: Kube, opts: LeaderOptions, log: Logger) {
    this.kube = kube;
    this.o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
    this.log = log.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  private get path() {
    return resourcePath('coordination.k8s.io/v1', 'Lease', this.o.namespace, this.o.name);
  }

  /** Runs until stop(): calls onStarted when this replica becomes leader and onStopped when it loses the lease. */
  async run(onStarted: () => void, onStopped: () => void): Promise<void> {
    while (!this.stopped) {
      const ok = await this.tryAcquireOrRenew().catch((e) => {
        this.log.warn({ error: (e as Error).message }, 'lease update failed');
        return false;
      });
      const now = Date.now();
      if (ok) {
        this.lastRenew = now;
        if (!this.isLeader) {
          this.isLeader = true;
          this.log.info('became leader');
          onStarted();
        }
      } else if (this.isLeader && now - this.lastRenew > this.o.renewDeadlineMs) {
        // Another replica may take over once the lease expires: stop reconciling now, before that can happen.
        this.isLeader = false;
        this.log.warn('lost leadership');
        onStopped();
      }
      await new Promise((r) => setTimeout(r, this.o.retryPeriodMs));
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const existing = await this.kube.getOrUndefined<Lease>(this.path);
    const spec = {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.ceil(this.o.leaseDurationMs / 1000),
      renewTime: microTime(now),
    };
    if (!existing) {
      try {
        await this.kube.create({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
        });
        return true;
      } catch (e) {
        if (isConflict(e)) return false;
        throw e;
      }
    }
    const held = existing.spec.holderIdentity;
    const renewed = existing.spec.renewTime ? Date.parse(existing.spec.renewTime) : 0;
    const expired = renewed + (existing.spec.leaseDurationSeconds ?? 15) * 1000 < now.getTime();
    if (held && held !== this.o.identity && !expired) return false;
    const mine = held === this.o.identity;
    const lease: Lease = {
      ...existing,
      spec: {
        ...existing.spec,
        ...spec,
        ...(mine ? {} : { acquireTime: microTime(now), leaseTransitions: (existing.spec.leaseTransitions ?? 0) + 1 }),
      },
    };
    try {
      // PUT with the read resourceVersion: a concurrent writer makes this fail with 409 instead of both winning.
      await this.kube.request(HttpMethod.PUT, this.path, { body: lease });
      return true;
    } catch (e) {
      if (isConflict(e) || isNotFound(e)) return false;
      throw e;
    }
  }

  /** Stops the loop and, if leading, releases the lease so a successor takes over without waiting. */
  async release(): Promise<void> {
    this.stopped = true;
    if (!this.isLeader) return;
    this.isLeader = false;
    try {
      const existing = await this.kube.getOrUndefined<Lease>(this.path);
      if (existing?.spec.holderIdentity !== this.o.identity) return;
      await this.kube.request(HttpMethod.PUT, this.path, {
        body: {
          ...existing,
          spec: { ...existing.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime() },
        },
      });
      this.log.info('released lease');
    } catch (e) {
      this.log.warn({ error: (e as Error).message }, 'cannot release lease');
    }
  }
}
