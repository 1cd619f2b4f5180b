// vstream_livestream_condition: kube-state-metrics style samples from the cached status, and series that leave
// with the LiveStream.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { LiveStream } from '../../src/api/livestream.ts';
import { conditionSamples, registerConditionMetrics } from '../../src/controller/condition-metrics.ts';

const stream = (namespace: string, name: string, conditions: [string, 'True' | 'False' | 'Unknown'][]) =>
  ({
    metadata: { namespace, name },
    status: {
      conditions: conditions.map(([type, status]) => ({
        type,
        status,
        reason: 'R',
        message: '',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      })),
    },
  }) as unknown as LiveStream;

describe('conditionSamples', () => {
  it('gives each condition three series, 1 on its current status', () => {
    const s = conditionSamples([stream('a', 'x', [['Ready', 'False']])]);
    expect(s).toEqual([
      { labels: { namespace: 'a', name: 'x', type: 'Ready', status: 'True' }, value: 0 },
      { labels: { namespace: 'a', name: 'x', type: 'Ready', status: 'False' }, value: 1 },
      { labels: { namespace: 'a', name: 'x', type: 'Ready', status: 'Unknown' }, value: 0 },
    ]);
  });

  it('has nothing for a LiveStream without status yet', () => {
    expect(conditionSamples([{ metadata: { namespace: 'a', name: 'new' } } as LiveStream])).toEqual([]);
  });
});

describe('the gauge', () => {
  it('follows the cache on every scrape: new statuses, and a deleted stream’s series removed', async () => {
    const registry = new Registry();
    let cache = [
      stream('a', 'x', [
        ['Ready', 'True'],
        ['Live', 'False'],
      ]),
      stream('b', 'y', [['Ready', 'Unknown']]),
    ];
    registerConditionMetrics(registry, () => cache);
    let text = await registry.metrics();
    expect(text).toContain('vstream_livestream_condition{namespace="a",name="x",type="Ready",status="True"} 1');
    expect(text).toContain('vstream_livestream_condition{namespace="a",name="x",type="Live",status="False"} 1');
    expect(text).toContain('vstream_livestream_condition{namespace="a",name="x",type="Live",status="True"} 0');
    expect(text).toContain('vstream_livestream_condition{namespace="b",name="y",type="Ready",status="Unknown"} 1');
    expect(text.match(/^vstream_livestream_condition\{/gm)).toHaveLength(9);

    cache = [
      stream('a', 'x', [
        ['Ready', 'True'],
        ['Live', 'True'],
      ]),
    ]; // b/y deleted, a/x went live
    text = await registry.metrics();
    expect(text).toContain('vstream_livestream_condition{namespace="a",name="x",type="Live",status="True"} 1');
    expect(text).not.toContain('name="y"');
    expect(text.match(/^vstream_livestream_condition\{/gm)).toHaveLength(6);
  });

  it('holds no series between scrapes: they are built for a scrape and dropped after it', async () => {
    const registry = new Registry();
    const gauge = registerConditionMetrics(registry, () => [stream('a', 'x', [['Ready', 'True']])]);
    const series = () => Object.keys((gauge as unknown as { hashMap: object }).hashMap).length;
    expect(await registry.metrics()).toContain('type="Ready",status="True"} 1');
    expect(series()).toBe(0);
    expect((await registry.getMetricsAsJSON())[0]?.values).toHaveLength(3);
    expect(series()).toBe(0);
  });
});
