import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../src/controller/workqueue.ts';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('de-duplicates keys that are waiting', async () => {
    const q = new WorkQueue({ name: 't', concurrency: 1 });
    const seen: string[] = [];
    for (const k of ['a', 'b', 'a', 'a', 'b']) q.add(k);
    q.run(async (k) => {
      seen.push(k);
      return undefined;
    });
    await q.idle();
    expect(seen).toEqual(['a', 'b']);
  });

  it('never runs one key twice at once, and re-runs a key added while it ran (once)', async () => {
    const q = new WorkQueue({ name: 't', concurrency: 4 });
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    q.run(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs++;
      await tick(20);
      running--;
      return undefined;
    });
    q.add('k');
    await tick(2);
    for (let i = 0; i < 5; i++) q.add('k');
    await tick(100);
    await q.idle();
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
  });

  it('bounds concurrency across keys', async () => {
    const q = new WorkQueue({ name: 't', concurrency: 3 });
    let running = 0;
    let maxRunning = 0;
    q.run(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await tick(10);
      running--;
      return undefined;
    });
    for (let i = 0; i < 20; i++) q.add(`k${i}`);
    await tick(200);
    await q.idle();
    expect(maxRunning).toBe(3);
  });

  it('retries failures with per-key exponential backoff and forgets on success', async () => {
    const registry = new Registry();
    const q = new WorkQueue({ name: 'bk', concurrency: 1, baseDelayMs: 10, registry });
    const times: number[] = [];
    q.run(async () => {
      times.push(Date.now());
      if (times.length < 4) throw new Error('boom');
      return undefined;
    });
    q.add('x');
    await new Promise((r) => setTimeout(r, 300));
    expect(times.length).toBe(4);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps[0]!).toBeGreaterThanOrEqual(9);
    expect(gaps[2]!).toBeGreaterThanOrEqual(38); // 10, 20, 40
    expect(q.retriesOf('x')).toBe(0);
    expect(await registry.getSingleMetricAsString('workqueue_retries_total')).toContain(
      'workqueue_retries_total{name="bk"} 3',
    );
  });

  it('honours requeue-after, keeping the earliest pending delay', async () => {
    const q = new WorkQueue({ name: 't', concurrency: 1 });
    let runs = 0;
    q.run(async () => {
      runs++;
      return runs === 1 ? { requeueAfterMs: 30 } : undefined;
    });
    q.add('r');
    await tick(10);
    expect(runs).toBe(1);
    q.addAfter('r', 10_000);
    await tick(60);
    expect(runs).toBe(2);
  });

  it('drains in-flight work on shutdown and takes no more', async () => {
    const q = new WorkQueue({ name: 't', concurrency: 2 });
    let done = 0;
    q.run(async () => {
      await tick(30);
      done++;
      return undefined;
    });
    q.add('a');
    q.add('b');
    q.add('c');
    await tick(5);
    await q.shutdown();
    expect(done).toBe(2);
    q.add('d');
    await tick(50);
    expect(done).toBe(2);
  });
});
