import { describe, expect, it } from 'vitest';
import { type LiveStream, resolveSpec } from '../../src/api/livestream.ts';
import { RecordingFiguresCache, sidecarFromApi } from '../../src/controller/recording-status.ts';
import { desiredStatus } from '../../src/controller/status.ts';
import type { RecordingStatus } from '../../src/recording/runner.ts';

const sidecar = (s: Partial<RecordingStatus>): RecordingStatus => ({
  paused: false,
  usedBytes: 1000,
  segments: 3,
  freeBytes: 9000,
  totalBytes: 10_000,
  deleted: { age: 0, size: 0, empty: 0 },
  updatedAt: '2026-01-01T00:00:00.000Z',
  oldest: '2026-01-01T00:00:00.000Z',
  newest: '2026-01-01T00:01:00.000Z',
  ...s,
});

function cache(answers: RecordingStatus[]) {
  let i = 0;
  const asked: string[] = [];
  const c = new RecordingFiguresCache({
    locate: (ns, name) => `http://127.0.0.1:1/${ns}/${name}`,
    ask: async (base) => {
      asked.push(base);
      return answers[Math.min(i++, answers.length - 1)];
    },
  });
  return { c, asked };
}

describe('recording figures in status: asked and written rarely', () => {
  it('publishes the first answer, then at most every 5-10 minutes (fixed per stream) and only when changed', async () => {
    const { c, asked } = cache([sidecar({}), sidecar({ usedBytes: 2000 }), sidecar({ usedBytes: 3000 })]);
    const t = 1_000_000;
    expect(await c.refresh('ns/a', 'ns', 'a', true, t)).toEqual({ write: true, change: undefined });
    expect(c.get('ns/a')?.usedBytes).toBe(1000);
    // Within 30 s the sidecar is not even asked.
    expect(await c.refresh('ns/a', 'ns', 'a', true, t + 10_000)).toEqual({ write: false, change: undefined });
    expect(asked).toHaveLength(1);
    // Asked after 30 s, but changed figures wait for 5 minutes since the last write.
    expect((await c.refresh('ns/a', 'ns', 'a', true, t + 31_000)).write).toBe(false);
    expect(c.get('ns/a')?.usedBytes).toBe(1000);
    expect((await c.refresh('ns/a', 'ns', 'a', true, t + 600_000)).write).toBe(true);
    expect(c.get('ns/a')?.usedBytes).toBe(3000);
  });

  it('an idle stream is not asked and writes nothing', async () => {
    const { c, asked } = cache([sidecar({}), sidecar({ usedBytes: 5 })]);
    await c.refresh('ns/a', 'ns', 'a', false, 0);
    for (let t = 60_000; t < 3_600_000; t += 60_000)
      expect((await c.refresh('ns/a', 'ns', 'a', false, t)).write).toBe(false);
    expect(asked).toHaveLength(1);
  });

  it('a pause and a resume are written at once, with the change', async () => {
    const { c } = cache([sidecar({}), sidecar({ paused: true, reason: 'VolumeFull' }), sidecar({})]);
    await c.refresh('ns/a', 'ns', 'a', true, 0);
    expect(await c.refresh('ns/a', 'ns', 'a', true, 30_000)).toEqual({ write: true, change: 'paused' });
    // Paused streams are asked even when idle, so the resume is seen.
    expect(await c.refresh('ns/a', 'ns', 'a', false, 60_000)).toEqual({ write: true, change: 'resumed' });
  });

  it('1 000 recording live streams polled every 10 s for an hour: at most 10 status writes a second, on average far fewer', async () => {
    let n = 0;
    const c = new RecordingFiguresCache({
      locate: () => 'http://127.0.0.1:1',
      ask: async () => sidecar({ usedBytes: n++ }),
    });
    const writesPerSecond = new Map<number, number>();
    for (let t = 0; t < 3_600_000; t += 10_000)
      for (let s = 0; s < 1000; s++) {
        const at = t + s * 10; // spread over the 10 s round like the live queue
        if ((await c.refresh(`ns/s${s}`, 'ns', `s${s}`, true, at)).write) {
          const sec = Math.floor(at / 1000);
          writesPerSecond.set(sec, (writesPerSecond.get(sec) ?? 0) + 1);
        }
      }
    const total = [...writesPerSecond.values()].reduce((a, b) => a + b, 0);
    // The first round writes everything once (1 000 in 10 s); afterwards one write per stream per 5 minutes.
    expect(Math.max(...[...writesPerSecond.entries()].filter(([s]) => s >= 10).map(([, v]) => v))).toBeLessThanOrEqual(
      10,
    );
    expect(total / 3600).toBeLessThanOrEqual(3.6);
  });

  it('finds the sidecar on the API host, at its ops port', () => {
    expect(sidecarFromApi(() => 'http://x-metrics.ns.svc:9997')('ns', 'x')).toBe('http://x-metrics.ns.svc:9091');
  });
});

describe('status.recording and RecordingHealthy', () => {
  const ls: LiveStream = {
    apiVersion: 'vstream.io/v1alpha1',
    kind: 'LiveStream',
    metadata: { name: 'show', namespace: 'events', generation: 1 },
    spec: { recording: { enabled: true } },
  };
  const base = { spec: resolveSpec('show', ls.spec), publishSecret: { name: 'show-publish', key: 'token' } };
  const figures = { paused: false, usedBytes: 10, freeBytes: 20, oldest: 'a', newest: 'b' };

  it('carries the playback URL and the figures; the condition only once the sidecar answered', () => {
    const before = desiredStatus(ls, base);
    expect(before.recording).toEqual({
      claimName: 'show-recordings',
      playbackURL: 'http://show.events.svc:9996',
    });
    expect(before.conditions.find((c) => c.type === 'RecordingHealthy')).toBeUndefined();
    const s = desiredStatus(ls, { ...base, recording: figures });
    expect(s.recording).toMatchObject({ usedBytes: 10, freeBytes: 20, oldest: 'a', newest: 'b', paused: false });
    expect(s.conditions.find((c) => c.type === 'RecordingHealthy')).toMatchObject({
      status: 'True',
      reason: 'Recording',
    });
    const full = desiredStatus(ls, { ...base, recording: { ...figures, paused: true } });
    expect(full.conditions.find((c) => c.type === 'RecordingHealthy')).toMatchObject({
      status: 'False',
      reason: 'VolumeFull',
    });
  });

  it('uses https with spec.tls', () => {
    const tls = { ...ls, spec: { ...ls.spec, tls: { secretRef: { name: 'cert' } } } };
    const s = desiredStatus(tls, { ...base, spec: resolveSpec('show', tls.spec) });
    expect(s.recording?.playbackURL).toMatch(/^https:\/\/.*:9996$/);
  });
});

describe('recording.segment_ready (webhooks): a segment count that grew means the previous newest is complete', () => {
  it('reports the segment that completed, once, and nothing on the first look or after a deletion', async () => {
    const { c } = cache([
      sidecar({ segments: 3, newest: '2026-01-01T00:01:00.000Z' }),
      sidecar({ segments: 4, newest: '2026-01-01T00:01:20.000Z' }),
      sidecar({ segments: 4, newest: '2026-01-01T00:01:50.000Z' }),
      sidecar({ segments: 3, newest: '2026-01-01T00:02:20.000Z' }),
    ]);
    const t = 1_000_000;
    expect((await c.refresh('ns/a', 'ns', 'a', true, t)).segmentReady).toBeUndefined();
    expect((await c.refresh('ns/a', 'ns', 'a', true, t + 30_000)).segmentReady).toEqual({
      completedAt: '2026-01-01T00:01:00.000Z',
      segments: 4,
    });
    expect((await c.refresh('ns/a', 'ns', 'a', true, t + 60_000)).segmentReady).toBeUndefined();
    expect((await c.refresh('ns/a', 'ns', 'a', true, t + 90_000)).segmentReady).toBeUndefined();
  });
});
