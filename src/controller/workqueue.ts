// A keyed, de-duplicating work queue with per-key exponential backoff, requeue-after, bounded concurrency and
// controller-runtime's guarantees: a key is never processed by two workers at once, and a key added while it is
// being processed is processed again afterwards (once, however often it was added).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type Result = { requeueAfterMs?: number } | undefined;
export type Handler = (key: string) => Promise<Result>;

export interface QueueOptions {
  name: string;
  concurrency: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  registry?: Registry;
}

const metricsByRegistry = new WeakMap<Registry, ReturnType<typeof createQueueMetrics>>();
/** The queues of each registry, for the gauges computed at scrape time. */
const queuesByRegistry = new WeakMap<Registry, Set<WorkQueue>>();

/** client-go's workqueue metrics, one set per registry, labelled by queue name (several queues share them). */
export function queueMetrics(registry: Registry, name: string) {
  const m = metricsByRegistry.get(registry) ?? createQueueMetrics(registry);
  metricsByRegistry.set(registry, m);
  return { ...m, name };
}

function createQueueMetrics(registry: Registry) {
  const labels = ['name'] as const;
  const opts = { registers: [registry], labelNames: labels };
  /** At scrape time, for each queue of this registry: how long each key in flight has been running, in seconds. */
  const inFlight = (set: (gauge: Gauge, name: string, ages: number[]) => void) =>
    function (this: Gauge) {
      const now = performance.now();
      for (const q of queuesByRegistry.get(registry) ?? []) set(this, q.name, q.inFlightAges(now));
    };
  return {
    depth: new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', ...opts }),
    adds: new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', ...opts }),
    retries: new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      ...opts,
    }),
    latency: new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      buckets: [0.001, 0.01, 0.1, 1, 10, 60],
      ...opts,
    }),
    work: new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes',
      buckets: [0.001, 0.01, 0.1, 1, 10, 60],
      ...opts,
    }),
    // Like client-go: the seconds in-flight work has run so far (not yet seen by work_duration), and the oldest.
    // A handler that hangs makes both climb while every histogram stays silent.
    unfinished: new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
      ...opts,
      collect: inFlight((g, name, ages) =>
        g.set(
          { name },
          ages.reduce((a, b) => a + b, 0),
        ),
      ),
    }),
    longest: new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running.',
      ...opts,
      collect: inFlight((g, name, ages) => g.set({ name }, ages.length ? Math.max(...ages) : 0)),
    }),
  };
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** performance.now() when each key in flight started. */
  private readonly startedAt = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly addedAt = new Map<string, number>();
  private active = 0;
  private shuttingDown = false;
  private idleWaiters: (() => void)[] = [];
  private handler?: Handler;
  private readonly opts: Required<Omit<QueueOptions, 'registry'>>;
  private readonly m?: ReturnType<typeof queueMetrics>;

  constructor(opts: QueueOptions) {
    this.opts = { baseDelayMs: 5, maxDelayMs: 300_000, ...opts };
    if (opts.registry) {
      this.m = queueMetrics(opts.registry, opts.name);
      const queues = queuesByRegistry.get(opts.registry) ?? new Set();
      queues.add(this);
      queuesByRegistry.set(opts.registry, queues);
    }
  }

  get name(): string {
    return this.opts.name;
  }

  /** Seconds each key in flight has been running, at `now` (performance.now()). */
  inFlightAges(now = performance.now()): number[] {
    return [...this.startedAt.values()].map((t) => (now - t) / 1000);
  }

  get length(): number {
    return this.queue.length;
  }

  /** Adds a key now. A no-op when it is already waiting. */
  add(key: string): void {
    if (this.shuttingDown) return;
    this.m?.adds.inc({ name: this.opts.name });
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.addedAt.set(key, Date.now());
    this.m?.depth.set({ name: this.opts.name }, this.queue.length);
    this.pump();
  }

  /** Adds a key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Adds a key now unless it is already waiting, in flight or scheduled (a periodic key keeps its own rhythm). */
  ensure(key: string): void {
    if (this.queued.has(key) || this.processing.has(key) || this.timers.has(key)) return;
    this.add(key);
  }

  /** Per-key exponential backoff: base * 2^failures, capped. */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.m?.retries.inc({ name: this.opts.name });
    this.addAfter(key, Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** n));
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  retriesOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  run(handler: Handler): void {
    this.handler = handler;
    this.pump();
  }

  private pump(): void {
    if (!this.handler) return;
    while (this.active < this.opts.concurrency && this.queue.length) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.m?.depth.set({ name: this.opts.name }, this.queue.length);
      const added = this.addedAt.get(key);
      this.addedAt.delete(key);
      if (added) this.m?.latency.observe({ name: this.opts.name }, (Date.now() - added) / 1000);
      this.processing.add(key);
      this.startedAt.set(key, performance.now());
      this.active++;
      void this.process(key);
    }
    if (this.active === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async process(key: string): Promise<void> {
    const start = Date.now();
    let result: Result;
    let failed = false;
    try {
      result = await this.handler!(key);
    } catch {
      failed = true;
    }
    this.m?.work.observe({ name: this.opts.name }, (Date.now() - start) / 1000);
    this.processing.delete(key);
    this.startedAt.delete(key);
    this.active--;
    if (failed) this.addRateLimited(key);
    else {
      this.forget(key);
      if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    }
    if (this.dirty.delete(key)) this.add(key);
    this.pump();
  }

  /** Resolves when nothing is queued or in flight (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Stops taking work, drops pending keys, and waits for in-flight work to finish. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    this.dirty.clear();
    while (this.active > 0) await new Promise((r) => setTimeout(r, 10));
  }
}
