import { describe, expect, it } from 'vitest';
import { type FileEntry, type PlanInput, plan, segmentStart } from '../../src/recording/plan.ts';

const MiB = 1024 * 1024;
const NOW = Date.UTC(2026, 0, 2, 12, 0, 0);
const min = 60_000;

/** n one-minute segments of `size` bytes in live/s, the last one finishing now. */
function segments(n: number, size = MiB, dir = 'live/s'): FileEntry[] {
  return Array.from({ length: n }, (_, i) => {
    const end = NOW - (n - 1 - i) * min;
    const start = new Date(end - min).toISOString().replace(/T|:/g, (c) => (c === 'T' ? '_' : '-'));
    return { path: `${dir}/${start.slice(0, 19)}-000000.mp4`, size, mtimeMs: end };
  });
}

const input = (p: Partial<PlanInput> = {}): PlanInput => ({
  files: segments(10),
  dirs: ['live', 'live/s'],
  volume: { totalBytes: 100 * MiB, freeBytes: 90 * MiB },
  policy: { retentionMs: 0, reserveBytes: 5 * MiB },
  paused: false,
  now: NOW,
  ...p,
});

describe('recording retention plan', () => {
  it('deletes nothing within age and size', () => {
    const p = plan(input({ policy: { retentionMs: 60 * min, maxBytes: 20 * MiB, reserveBytes: MiB } }));
    expect(p.delete).toEqual([]);
    expect(p.removeDirs).toEqual([]);
    expect(p.pause).toBe(false);
    expect(p.keptBytes).toBe(10 * MiB);
    expect(p.keptSegments).toBe(10);
  });

  it('deletes by age the segments last written before the retention, oldest first', () => {
    const files = segments(10);
    const p = plan(input({ files, policy: { retentionMs: 3.5 * min, reserveBytes: MiB } }));
    expect(p.delete.map((d) => d.path)).toEqual(files.slice(0, 6).map((f) => f.path));
    expect(new Set(p.delete.map((d) => d.reason))).toEqual(new Set(['age']));
  });

  it('deletes the oldest down to the size cap, never the segment being written', () => {
    const files = segments(10);
    const p = plan(input({ files, policy: { retentionMs: 0, maxBytes: 4.5 * MiB, reserveBytes: MiB } }));
    expect(p.delete.map((d) => d.path)).toEqual(files.slice(0, 6).map((f) => f.path));
    expect(p.delete.every((d) => d.reason === 'size')).toBe(true);
    expect(p.keptBytes).toBe(4 * MiB);
    expect(p.freeAfter).toBe(96 * MiB);
    // A cap below the current segment: everything else goes, the current one stays.
    const tiny = plan(input({ files, policy: { retentionMs: 0, maxBytes: 1, reserveBytes: MiB, busyMs: 0 } }));
    expect(tiny.delete).toHaveLength(9);
    expect(tiny.current).toBe(files[9]!.path);
    expect(tiny.delete.map((d) => d.path)).not.toContain(files[9]!.path);
  });

  it('takes the smaller of maxBytes and maxPercent of the volume', () => {
    const p = plan(input({ policy: { retentionMs: 0, maxBytes: 8 * MiB, maxPercent: 3, reserveBytes: MiB } }));
    expect(p.capBytes).toBe(Math.floor(3 * MiB));
    expect(p.keptBytes).toBeLessThanOrEqual(3 * MiB);
    const q = plan(input({ policy: { retentionMs: 0, maxPercent: 50, reserveBytes: MiB } }));
    expect(q.capBytes).toBe(50 * MiB);
    expect(q.delete).toEqual([]);
  });

  it('counts age first, then size, without deleting a file twice', () => {
    const files = segments(10);
    const p = plan(input({ files, policy: { retentionMs: 7.5 * min, maxBytes: 2 * MiB, reserveBytes: MiB } }));
    expect(p.delete.map((d) => d.reason)).toEqual(['age', 'age', 'size', 'size', 'size', 'size', 'size', 'size']);
    expect(new Set(p.delete.map((d) => d.path)).size).toBe(8);
  });

  it('never deletes a file written in the last busy window, even over the cap', () => {
    const files = segments(10).map((f, i) => ({ ...f, mtimeMs: NOW - (9 - i) * 1000 }));
    const p = plan(input({ files, policy: { retentionMs: 0, maxBytes: 0, reserveBytes: MiB, busyMs: 5_000 } }));
    expect(p.delete.map((d) => d.path)).toEqual(files.slice(0, 5).map((f) => f.path));
  });

  it('removes 0-byte leftovers of failed segments (they break the playback server /list)', () => {
    const files = [...segments(3), { path: 'live/s/2026-01-02_11-59-59-000000.mp4', size: 0, mtimeMs: NOW }];
    files.splice(1, 0, { path: 'live/s/2026-01-02_11-57-30-000000.mp4', size: 0, mtimeMs: NOW - 2.5 * min });
    const p = plan(input({ files }));
    // The newest 0-byte file may be the segment MediaMTX just opened: it stays.
    expect(p.delete).toEqual([{ path: 'live/s/2026-01-02_11-57-30-000000.mp4', size: 0, reason: 'empty' }]);
  });

  it('only ever deletes segment files (.mp4, .ts)', () => {
    const files = [
      ...segments(3),
      { path: 'notes.txt', size: 50 * MiB, mtimeMs: 0 },
      { path: 'lost+found/x', size: 0, mtimeMs: 0 },
    ];
    const p = plan(input({ files, policy: { retentionMs: min, maxBytes: 0, reserveBytes: MiB } }));
    expect(p.delete.map((d) => d.path).some((x) => !x.endsWith('.mp4'))).toBe(false);
    expect(p.keptBytes).toBe(MiB);
  });

  it('removes directories left empty, deepest first, never the current one nor lost+found', () => {
    const old = segments(2, MiB, 'old/path');
    const files = [...old.map((f) => ({ ...f, mtimeMs: f.mtimeMs - 120 * min })), ...segments(2)];
    const dirs = ['lost+found', 'old', 'old/path', 'old/empty', 'live', 'live/s', 'stale', 'stale/a', 'stale/a/b'];
    const p = plan(input({ files, dirs, policy: { retentionMs: 60 * min, reserveBytes: MiB } }));
    expect(p.delete.map((d) => d.path)).toEqual(files.slice(0, 2).map((f) => f.path));
    expect(p.removeDirs).toEqual(['stale/a/b', 'old/empty', 'old/path', 'stale/a', 'old', 'stale']);
    // Directories emptied by this pass go too; a directory whose file stays does not.
    const keep = plan(input({ files, dirs, policy: { retentionMs: 0, reserveBytes: MiB } }));
    expect(keep.removeDirs).toEqual(['stale/a/b', 'old/empty', 'stale/a', 'stale']);
  });

  it('pauses when the volume is nearly full and nothing may be deleted, resumes with hysteresis', () => {
    const full = { totalBytes: 12 * MiB, freeBytes: 1 * MiB };
    const p = plan(input({ volume: full, policy: { retentionMs: 0, reserveBytes: 2 * MiB } }));
    expect(p.delete).toEqual([]);
    expect(p.pause).toBe(true);
    expect(p.pauseReason).toBe('VolumeFull');
    // Paused: stays paused between the reserve and twice the reserve, resumes above.
    const policy = { retentionMs: 0, reserveBytes: 2 * MiB };
    expect(plan(input({ volume: { ...full, freeBytes: 3 * MiB }, policy, paused: true })).pause).toBe(true);
    expect(plan(input({ volume: { ...full, freeBytes: 3 * MiB }, policy, paused: false })).pause).toBe(false);
    expect(plan(input({ volume: { ...full, freeBytes: 4 * MiB }, policy, paused: true })).pause).toBe(false);
  });

  it('does not pause when the deletions it plans free enough', () => {
    const files = segments(10);
    const p = plan(
      input({
        files,
        volume: { totalBytes: 12 * MiB, freeBytes: MiB },
        policy: { retentionMs: 0, maxBytes: 5 * MiB, reserveBytes: 2 * MiB },
      }),
    );
    expect(p.delete).toHaveLength(5);
    expect(p.freeAfter).toBe(6 * MiB);
    expect(p.pause).toBe(false);
  });

  it('reads the start time from a segment name', () => {
    expect(segmentStart('live/s/2026-11-25_19-56-27-746658.mp4')?.toISOString()).toBe('2026-11-25T19:56:27.746Z');
    expect(segmentStart('live/s/x.mp4')).toBeUndefined();
  });
});
