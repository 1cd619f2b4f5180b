// Webhook delivery: a queue of its own, apart from reconciliation (a receiver that is down only ever holds up its
// own deliveries). Bounded: at most `bound` events (default 1 000) wait or retry across all streams; beyond it the
// oldest waiting one is dropped and counted (vstream_webhook_events_dropped_total{reason="queue_full"}). Each attempt
// has a timeout (5 s); a failed attempt is retried with exponential backoff and jitter, 6 attempts over about
// 5 minutes (10 s, 20 s, 40 s, 80 s, 160 s, each ×0.75–1.25). One webhook of one stream gets its events in order,
// one at a time.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { request } from '../net/http.ts';
import { signedHeaders } from './sign.ts';

export const QUEUE_BOUND = 1000;
export const MAX_ATTEMPTS = 6;
export const ATTEMPT_TIMEOUT_MS = 5000;
export const BASE_DELAY_MS = 10_000;
/** A receiver's answer body is read (and dropped) up to this size; the rest is cut off with the connection. */
const RESPONSE_LIMIT = 64 * 1024;

export interface Job {
  /** One webhook of one stream: `<namespace>/<name>#<index>`. Its jobs go out in order, one at a time. */
  target: string;
  url: string;
  id: string;
  body: string;
  /** The signing key, read when an attempt starts (a Secret fixed after a failure is used by the next attempt). */
  signingKey: () => Promise<Buffer>;
}

export interface Outcome {
  job: Job;
  delivered: boolean;
  /** No attempt follows (delivered, out of attempts, or dropped). */
  final: boolean;
  /** "Delivered 204", "Failed: HTTP 500", "Failed: timeout after 5s", ... never the URL's query or a key. */
  result: string;
  attempts: number;
  at: number;
}

export type Send = (url: string, headers: Record<string, string>, body: string, timeoutMs: number) => Promise<number>;

export interface QueueOptions {
  bound?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  baseDelayMs?: number;
  /** Attempts in flight at once, across all targets. */
  concurrency?: number;
  registry?: Registry;
  onOutcome: (o: Outcome) => void;
  send?: Send;
  random?: () => number;
}

interface Queued extends Job {
  seq: number;
  attempts: number;
  dueAt: number;
}

export const httpSend: Send = async (url, headers, body, timeoutMs) => {
  // User info in the URL becomes HTTP Basic authentication, set here and taken out of the URL, so that only the
  // header carries it.
  const u = new URL(url);
  const basic = u.username
    ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`
    : undefined;
  u.username = '';
  u.password = '';
  const res = await request(u, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'vstream-webhooks/1',
      ...(basic ? { authorization: basic } : {}),
      ...headers,
    },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.body.dump({ limit: RESPONSE_LIMIT }).catch(() => undefined);
  return res.statusCode;
};

/** Why an attempt failed, in words that carry no URL and no secret: an HTTP status or an error code. */
export function failureReason(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; code?: string; cause?: { code?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return `timeout after ${timeoutMs / 1000}s`;
  const code = err?.code ?? err?.cause?.code;
  if (code) return code;
  return err?.name ?? 'error';
}

export class DeliveryQueue {
  private readonly targets = new Map<string, Queued[]>();
  private readonly inFlight = new Set<string>();
  private size = 0;
  private seq = 0;
  private active = false;
  private timer?: NodeJS.Timeout;
  private timerAt = Number.POSITIVE_INFINITY;
  private running = 0;
  private paused = false;
  private readonly opts: QueueOptions;
  private readonly m?: {
    deliveries: Counter<'result'>;
    seconds: Histogram;
    depth: Gauge;
    dropped: Counter<'reason'>;
  };

  constructor(opts: QueueOptions) {
    this.opts = opts;
    if (opts.registry) {
      const registers = [opts.registry];
      this.m = {
        deliveries: new Counter({
          name: 'vstream_webhook_deliveries_total',
          help: 'Webhook delivery attempts by result (delivered, failed)',
          labelNames: ['result'],
          registers,
        }),
        seconds: new Histogram({
          name: 'vstream_webhook_delivery_seconds',
          help: 'Duration of one webhook delivery attempt',
          buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
          registers,
        }),
        depth: new Gauge({
          name: 'vstream_webhook_queue_depth',
          help: 'Webhook events waiting, being sent or waiting for a retry',
          registers,
        }),
        dropped: new Counter({
          name: 'vstream_webhook_events_dropped_total',
          help: 'Webhook events given up on: queue_full (the bound was reached), attempts (all attempts failed)',
          labelNames: ['reason'],
          registers,
        }),
      };
    }
  }

  get depth(): number {
    return this.size;
  }

  /** Only the leader sends. Going inactive drops everything queued (the outbox in status keeps it). */
  setActive(active: boolean): void {
    this.active = active;
    this.paused = false;
    if (!active) {
      this.targets.clear();
      this.size = 0;
      this.m?.depth.set(0);
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
    } else this.pump();
  }

  /** Starts no attempt any more and resolves when those in flight have finished (a graceful handover). */
  async drain(): Promise<void> {
    this.paused = true;
    while (this.running > 0) await new Promise((r) => setTimeout(r, 20));
  }

  has(target: string, id: string): boolean {
    return this.targets.get(target)?.some((j) => j.id === id) ?? false;
  }

  push(job: Job): void {
    if (!this.active) return;
    const bound = this.opts.bound ?? QUEUE_BOUND;
    while (this.size >= bound && this.dropOldest()) {}
    if (this.size >= bound) {
      // Everything queued is in flight: the new one is the one that cannot wait.
      this.m?.dropped.inc({ reason: 'queue_full' });
      this.opts.onOutcome({
        job,
        delivered: false,
        final: true,
        result: 'Failed: dropped, queue full',
        attempts: 0,
        at: Date.now(),
      });
      return;
    }
    const q = this.targets.get(job.target) ?? [];
    q.push({ ...job, seq: this.seq++, attempts: 0, dueAt: Date.now() });
    this.targets.set(job.target, q);
    this.size++;
    this.m?.depth.set(this.size);
    this.pump();
  }

  private dropOldest(): boolean {
    let oldest: { target: string; index: number; seq: number } | undefined;
    for (const [target, q] of this.targets)
      q.forEach((j, index) => {
        if (index === 0 && this.inFlight.has(target)) return;
        if (!oldest || j.seq < oldest.seq) oldest = { target, index, seq: j.seq };
      });
    if (!oldest) return false;
    const q = this.targets.get(oldest.target)!;
    const [job] = q.splice(oldest.index, 1);
    if (!q.length) this.targets.delete(oldest.target);
    this.size--;
    this.m?.depth.set(this.size);
    this.m?.dropped.inc({ reason: 'queue_full' });
    this.opts.onOutcome({
      job: job!,
      delivered: false,
      final: true,
      result: 'Failed: dropped, queue full',
      attempts: job!.attempts,
      at: Date.now(),
    });
    return true;
  }

  private pump(): void {
    if (!this.active || this.paused) return;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [target, q] of this.targets) {
      if (this.inFlight.has(target)) continue;
      const head = q[0]!;
      if (head.dueAt > now) {
        next = Math.min(next, head.dueAt);
        continue;
      }
      if (this.running >= (this.opts.concurrency ?? 16)) break;
      this.inFlight.add(target);
      this.running++;
      void this.attempt(head).finally(() => {
        this.running--;
        this.inFlight.delete(target);
        this.pump();
      });
    }
    if (next < this.timerAt) {
      if (this.timer) clearTimeout(this.timer);
      this.timerAt = next;
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.timerAt = Number.POSITIVE_INFINITY;
          this.pump();
        },
        Math.max(0, next - now),
      );
      this.timer.unref?.();
    }
  }

  /** The wait before attempt n+1 after n failed ones: base·2^(n-1), ×0.75–1.25 so receivers are not hit in step. */
  delayAfter(failed: number): number {
    const base = this.opts.baseDelayMs ?? BASE_DELAY_MS;
    return Math.round(base * 2 ** (failed - 1) * (0.75 + 0.5 * (this.opts.random ?? Math.random)()));
  }

  private async attempt(job: Queued): Promise<void> {
    const timeoutMs = this.opts.timeoutMs ?? ATTEMPT_TIMEOUT_MS;
    const started = performance.now();
    let delivered = false;
    let result: string;
    try {
      const key = await job.signingKey();
      const status = await (this.opts.send ?? httpSend)(
        job.url,
        signedHeaders(key, job.id, job.body),
        job.body,
        timeoutMs,
      );
      delivered = status >= 200 && status < 300;
      result = delivered ? `Delivered ${status}` : `Failed: HTTP ${status}`;
    } catch (e) {
      result = `Failed: ${(e as { webhookReason?: string }).webhookReason ?? failureReason(e, timeoutMs)}`;
    }
    this.m?.seconds.observe((performance.now() - started) / 1000);
    this.m?.deliveries.inc({ result: delivered ? 'delivered' : 'failed' });
    job.attempts++;
    const q = this.targets.get(job.target);
    // Deactivated (or dropped) meanwhile: the outcome is still reported, nothing is rescheduled.
    const queued = q?.[0] === job;
    const final = delivered || job.attempts >= (this.opts.maxAttempts ?? MAX_ATTEMPTS) || !queued;
    if (queued && final) {
      q.shift();
      if (!q.length) this.targets.delete(job.target);
      this.size--;
      this.m?.depth.set(this.size);
      if (!delivered) this.m?.dropped.inc({ reason: 'attempts' });
    } else if (queued) job.dueAt = Date.now() + this.delayAfter(job.attempts);
    this.opts.onOutcome({ job, delivered, final, result, attempts: job.attempts, at: Date.now() });
  }
}
