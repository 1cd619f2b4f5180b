// Metric and log hygiene: the sidecar's process metrics have their standard names, the work queue's
// unfinished-work gauges are actually set, and logs carry string levels and ISO-8601 times.
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { authMetrics } from '../../src/auth/server.ts';
import { WorkQueue } from '../../src/controller/workqueue.ts';
import { createLogger } from '../../src/log/logger.ts';

const value = (text: string, name: string, labels: string) =>
  Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1]);

describe("the auth sidecar's metrics", () => {
  it('exports process_* and nodejs_* under their standard names, not vstream_auth_process_process_*', async () => {
    const m = authMetrics(new Registry());
    const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name);
    expect(names).toContain('process_cpu_seconds_total');
    expect(names).toContain('process_resident_memory_bytes');
    expect(names).toContain('nodejs_eventloop_lag_seconds');
    expect(names.filter((n) => n.startsWith('vstream_auth_process_'))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(['vstream_auth_decisions_total', 'vstream_auth_decision_seconds']));
  });
});

describe('the work queue', () => {
  it('sets workqueue_unfinished_work_seconds and workqueue_longest_running_processor_seconds while work runs', async () => {
    const registry = new Registry();
    const q = new WorkQueue({ name: 'livestream', concurrency: 2, registry });
    const other = new WorkQueue({ name: 'livestream-live', concurrency: 1, registry });
    let release!: () => void;
    const blocked = new Promise<void>((r) => {
      release = r;
    });
    q.run(async () => {
      await blocked;
      return undefined;
    });
    other.run(async () => undefined);
    q.add('events/a');
    q.add('events/b');
    await new Promise((r) => setTimeout(r, 120));
    const during = await registry.metrics();
    const unfinished = value(during, 'workqueue_unfinished_work_seconds', 'name="livestream"');
    const longest = value(during, 'workqueue_longest_running_processor_seconds', 'name="livestream"');
    expect(unfinished).toBeGreaterThan(0.2); // two keys, ≥ 0.1 s each
    expect(longest).toBeGreaterThan(0.1);
    expect(longest).toBeLessThan(unfinished);
    expect(value(during, 'workqueue_unfinished_work_seconds', 'name="livestream-live"')).toBe(0);
    release();
    await q.idle();
    const after = await registry.metrics();
    expect(value(after, 'workqueue_unfinished_work_seconds', 'name="livestream"')).toBe(0);
    expect(value(after, 'workqueue_longest_running_processor_seconds', 'name="livestream"')).toBe(0);
  });
});

describe('logs', () => {
  it('have string levels and ISO-8601 UTC times, and still redact credentials', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger('controller', 'debug', sink as never);
    log.info({ token: 'secret-token-value' }, 'hello');
    log.warn('careful');
    const [a, b] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(a!.level).toBe('info');
    expect(b!.level).toBe('warn');
    expect(a!.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Number.isNaN(Date.parse(String(a!.time)))).toBe(false);
    expect(a!.component).toBe('controller');
    expect(lines.join('')).not.toContain('secret-token-value');
  });
});
