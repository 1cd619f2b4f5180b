// The recording figures in status (status.recording: bytes used and free, oldest and newest segment, paused), read
// from the auth sidecar's GET /recording by the live loop. Status writes must stay rare: a thousand live streams
// must cost the API server at most a few writes a second, so
//   - the sidecar is asked at most every ASK_EVERY_MS per stream, and only while the stream is live (an idle
//     stream writes nothing), or before anything was published for it;
//   - changed figures are published every PUBLISH_EVERY_MS to twice that per stream, fixed per stream so streams
//     spread out, and at most MAX_WRITES_PER_SECOND across all streams (1 000 recording live streams: about
//     2.2 writes/s);
//   - a pause or a resume is published at once: it changes a condition and is rare by nature.
import { request } from '../net/http.ts';
import type { RecordingStatus } from '../recording/runner.ts';
import { AUTH_METRICS_PORT } from '../render/ports.ts';
import type { ApiLocator } from './mediamtx-probe.ts';
import { RECORDING_PAUSED_MESSAGE, type RecordingFigures } from './status.ts';

export { RECORDING_PAUSED_MESSAGE, type RecordingFigures };

export const ASK_EVERY_MS = 30_000;
export const PUBLISH_EVERY_MS = 300_000;
/** Figure updates written across all streams per second, at most: the rest of the live loop's writes fit beside. */
export const MAX_WRITES_PER_SECOND = 5;

export const figuresOf = (s: RecordingStatus): RecordingFigures => ({
  paused: s.paused,
  usedBytes: s.usedBytes,
  freeBytes: s.freeBytes,
  ...(s.oldest ? { oldest: s.oldest } : {}),
  ...(s.newest ? { newest: s.newest } : {}),
});

/** The sidecar's ops port on the host the MediaMTX API is reached at (the metrics Service carries both). */
export const sidecarFromApi =
  (api: ApiLocator): ApiLocator =>
  (namespace, name) => {
    const base = api(namespace, name);
    if (!base) return undefined;
    const u = new URL(base);
    u.port = String(AUTH_METRICS_PORT);
    return u.origin;
  };

export async function askSidecar(base: string, timeoutMs = 2000): Promise<RecordingStatus | undefined> {
  const res = await request(`${base}/recording`, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.statusCode !== 200) {
    await res.body.dump();
    return undefined;
  }
  return (await res.body.json()) as RecordingStatus;
}

export type PauseChange = 'paused' | 'resumed' | undefined;

/** The sidecar reports one more segment than at the last look: the previous newest (last written then) is complete. */
export interface SegmentReady {
  completedAt: string;
  segments: number;
}

export class RecordingFiguresCache {
  private readonly published = new Map<string, { figures: RecordingFigures; at: number }>();
  private readonly askedAt = new Map<string, number>();
  /** Segment count and newest write at the last look, per stream: a count that grew means a segment completed. */
  private readonly segments = new Map<string, { count: number; newest?: string }>();
  private readonly opts: {
    locate: ApiLocator;
    ask?: typeof askSidecar;
    askEveryMs?: number;
    publishEveryMs?: number;
    /** Figure writes across all streams in one second, at most (a pause or resume is never held back). */
    maxWritesPerSecond?: number;
  };
  private window = { second: -1, writes: 0 };

  constructor(opts: RecordingFiguresCache['opts']) {
    this.opts = opts;
  }

  /**
   * Between 1 and 2 publish intervals, fixed per stream (a hash of its key): streams created together spread out
   * after their first write instead of all writing again in the same second.
   */
  private interval(key: string): number {
    let h = 2166136261;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619) >>> 0;
    const every = this.opts.publishEveryMs ?? PUBLISH_EVERY_MS;
    return every + Math.floor((every * h) / 2 ** 32);
  }

  get(key: string): RecordingFigures | undefined {
    return this.published.get(key)?.figures;
  }

  forget(key: string): void {
    this.published.delete(key);
    this.askedAt.delete(key);
    this.segments.delete(key);
  }

  /**
   * One look from the live loop. Returns whether status should be written (the published figures changed) and
   * whether recording was paused or resumed since the last look.
   */
  async refresh(
    key: string,
    namespace: string,
    name: string,
    live: boolean,
    now = Date.now(),
    /** The figures status carries now (written before a controller restart): they count as published. */
    current?: RecordingFigures,
  ): Promise<{ write: boolean; change: PauseChange; segmentReady?: SegmentReady }> {
    const none = { write: false, change: undefined };
    // After a restart, what status says counts as published at a time spread over the interval, so a thousand
    // streams do not all become due in the same second.
    if (!this.published.has(key) && current)
      this.published.set(key, { figures: current, at: now - this.interval(key) * Math.random() });
    const prev = this.published.get(key);
    if (prev && !live && !prev.figures.paused) return none;
    if (now - (this.askedAt.get(key) ?? Number.NEGATIVE_INFINITY) < (this.opts.askEveryMs ?? ASK_EVERY_MS)) return none;
    const base = this.opts.locate(namespace, name);
    if (!base) return none;
    this.askedAt.set(key, now);
    const got = await (this.opts.ask ?? askSidecar)(base).catch(() => undefined);
    if (!got?.updatedAt) return none;
    // A new segment was started since the last look: the one before it is complete (webhook recording.segment_ready).
    const seen = this.segments.get(key);
    this.segments.set(key, { count: got.segments, ...(got.newest ? { newest: got.newest } : {}) });
    const segmentReady =
      seen && got.segments > seen.count && seen.newest
        ? { completedAt: seen.newest, segments: got.segments }
        : undefined;
    const withSegment = <T extends object>(r: T) => (segmentReady ? { ...r, segmentReady } : r);
    const figures = figuresOf(got);
    const change: PauseChange =
      prev && prev.figures.paused !== figures.paused ? (figures.paused ? 'paused' : 'resumed') : undefined;
    const due = !prev || change || now - prev.at >= this.interval(key);
    if (!due || (prev && same(prev.figures, figures))) return withSegment({ write: false, change });
    const second = Math.floor(now / 1000);
    if (this.window.second !== second) this.window = { second, writes: 0 };
    // Over the budget: this stream's figures wait for its next look (30 s), a pause or resume does not.
    if (prev && !change && this.window.writes >= (this.opts.maxWritesPerSecond ?? MAX_WRITES_PER_SECOND))
      return withSegment(none);
    this.window.writes++;
    this.published.set(key, { figures, at: now });
    return withSegment({ write: true, change: change ?? (!prev && figures.paused ? 'paused' : undefined) });
  }
}

const same = (a: RecordingFigures, b: RecordingFigures) => JSON.stringify(a) === JSON.stringify(b);
