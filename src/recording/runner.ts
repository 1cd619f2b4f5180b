// Applies the retention plan (./plan.ts) to the recordings volume every few seconds, inside the auth sidecar:
// lists the volume, deletes what the plan says, and keeps MediaMTX's `record` switch where the plan wants it
// (paused when the volume is nearly full and nothing may be deleted), through MediaMTX's control API on loopback.
// Loaded by the sidecar with a dynamic import only when auth.json has a `recording` section, so streams that do
// not record pay nothing for it.

import { readFileSync } from 'node:fs';
import { lstat, readdir, rmdir, statfs, unlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AuthConfig } from '../auth/contract.ts';
import { request } from '../net/http.ts';
import { type DeleteReason, type FileEntry, type Plan, plan, SEGMENT_FILE, segmentStart } from './plan.ts';

export type RecordingConfig = NonNullable<AuthConfig['recording']>;

/** What the sidecar serves at GET /recording, and the controller copies (rarely) into status.recording. */
export interface RecordingStatus {
  /** Recording is paused by the sidecar because the volume is nearly full. */
  paused: boolean;
  reason?: 'VolumeFull';
  usedBytes: number;
  segments: number;
  freeBytes: number;
  totalBytes: number;
  capBytes?: number;
  /** Start of the oldest segment, end (last write) of the newest, RFC 3339. */
  oldest?: string;
  newest?: string;
  /** Deletions since the sidecar started, by reason. */
  deleted: Record<DeleteReason, number>;
  /** Last pass, RFC 3339; absent before the first one. */
  updatedAt?: string;
  /** Why the last pass failed, when it did (no secret can be in it: paths and errno codes only). */
  error?: string;
}

export interface RecordingRunnerOptions {
  /** The current auth.json (it is reloaded in place; the runner reads it on every pass). */
  config: () => AuthConfig;
  /** MediaMTX's control API, e.g. http://127.0.0.1:9997. */
  api: string;
  registry: Registry;
  log: Logger;
  intervalMs?: number;
  busyMs?: number;
  now?: () => number;
}

export const DEFAULT_INTERVAL_MS = 5_000;

const iso = (ms: number) => new Date(ms).toISOString();

export class RecordingRunner {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private paused = false;
  private current: RecordingStatus = {
    paused: false,
    usedBytes: 0,
    segments: 0,
    freeBytes: 0,
    totalBytes: 0,
    deleted: { age: 0, size: 0, empty: 0 },
  };
  private readonly metrics;
  private lastError?: string;

  private readonly opts: RecordingRunnerOptions;

  constructor(opts: RecordingRunnerOptions) {
    this.opts = opts;
    const registers = [opts.registry];
    this.metrics = {
      bytes: new Gauge({
        name: 'vstream_recording_bytes',
        help: 'Bytes of recording segments on the recordings volume.',
        registers,
      }),
      segments: new Gauge({ name: 'vstream_recording_segments', help: 'Recording segments on the volume.', registers }),
      free: new Gauge({
        name: 'vstream_recording_volume_free_bytes',
        help: 'Free bytes on the recordings volume (as an unprivileged writer sees them).',
        registers,
      }),
      total: new Gauge({ name: 'vstream_recording_volume_bytes', help: 'Size of the recordings volume.', registers }),
      paused: new Gauge({
        name: 'vstream_recording_paused',
        help: '1 while recording is paused because the volume is nearly full and nothing may be deleted.',
        registers,
      }),
      deleted: new Counter({
        name: 'vstream_recording_segments_deleted_total',
        help: 'Recording segments deleted, by reason: age (retention), size (maxSize), empty (0-byte leftovers).',
        labelNames: ['reason'] as const,
        registers,
      }),
      passFailures: new Counter({
        name: 'vstream_recording_pass_failures_total',
        help: 'Retention passes that could not list the volume or reach MediaMTX.',
        registers,
      }),
    };
    for (const r of ['age', 'size', 'empty']) this.metrics.deleted.inc({ reason: r }, 0);
  }

  status(): RecordingStatus {
    return this.current;
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      await this.pass();
      if (!this.stopped) this.timer = setTimeout(loop, this.opts.intervalMs ?? DEFAULT_INTERVAL_MS);
      this.timer?.unref();
    };
    void loop();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One pass: list, plan, delete, switch recording. Never throws. Exported for tests. */
  async pass(): Promise<Plan | undefined> {
    const config = this.opts.config();
    const rec = config.recording;
    if (!rec) return undefined;
    const now = (this.opts.now ?? Date.now)();
    try {
      const { files, dirs } = await listTree(rec.dir);
      const fs = await statfs(rec.dir);
      const volume = { totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize };
      const p = plan({
        files,
        dirs,
        volume,
        paused: this.paused,
        now,
        policy: {
          retentionMs: rec.retentionSeconds * 1000,
          ...(rec.maxBytes !== undefined ? { maxBytes: rec.maxBytes } : {}),
          ...(rec.maxPercent !== undefined ? { maxPercent: rec.maxPercent } : {}),
          reserveBytes: rec.reserveBytes,
          ...(this.opts.busyMs !== undefined ? { busyMs: this.opts.busyMs } : {}),
        },
      });
      await this.apply(rec.dir, p);
      await this.switchRecording(config, !p.pause);
      if (p.pause !== this.paused)
        p.pause
          ? this.opts.log.warn(
              { freeBytes: p.freeAfter, reserveBytes: rec.reserveBytes },
              'recordings volume nearly full and nothing may be deleted: recording paused (live stream unaffected)',
            )
          : this.opts.log.info({ freeBytes: p.freeAfter }, 'space on the recordings volume again: recording resumed');
      this.paused = p.pause;
      const gone = new Set(p.delete.map((d) => d.path));
      const kept = files.filter((f) => SEGMENT_FILE.test(f.path) && !gone.has(f.path));
      const oldest = kept.reduce<FileEntry | undefined>((o, f) => (!o || f.mtimeMs < o.mtimeMs ? f : o), undefined);
      const newest = kept.reduce<FileEntry | undefined>((o, f) => (!o || f.mtimeMs > o.mtimeMs ? f : o), undefined);
      this.metrics.bytes.set(p.keptBytes);
      this.metrics.segments.set(p.keptSegments);
      this.metrics.free.set(p.freeAfter);
      this.metrics.total.set(volume.totalBytes);
      this.metrics.paused.set(p.pause ? 1 : 0);
      this.current = {
        paused: p.pause,
        ...(p.pauseReason ? { reason: p.pauseReason } : {}),
        usedBytes: p.keptBytes,
        segments: p.keptSegments,
        freeBytes: p.freeAfter,
        totalBytes: volume.totalBytes,
        ...(p.capBytes !== undefined ? { capBytes: p.capBytes } : {}),
        ...(oldest ? { oldest: (segmentStart(oldest.path) ?? new Date(oldest.mtimeMs)).toISOString() } : {}),
        ...(newest ? { newest: iso(newest.mtimeMs) } : {}),
        deleted: this.current.deleted,
        updatedAt: iso(now),
      };
      if (this.lastError) this.opts.log.info('recordings retention pass works again');
      this.lastError = undefined;
      return p;
    } catch (e) {
      const error = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      this.metrics.passFailures.inc();
      if (this.lastError !== error) this.opts.log.warn({ error }, 'recordings retention pass failed');
      this.lastError = error;
      this.current = { ...this.current, error, updatedAt: iso(now) };
      return undefined;
    }
  }

  private async apply(root: string, p: Plan): Promise<void> {
    const counts: Partial<Record<DeleteReason, number>> = {};
    for (const d of p.delete) {
      try {
        await unlink(join(root, d.path));
      } catch (e) {
        // Gone already (MediaMTX's own cleaner, or a user): nothing to do. Anything else: the next pass retries.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') continue;
      }
      counts[d.reason] = (counts[d.reason] ?? 0) + 1;
      this.metrics.deleted.inc({ reason: d.reason });
      this.current.deleted[d.reason]++;
    }
    for (const d of p.removeDirs) {
      // ENOTEMPTY: MediaMTX wrote into it since the listing; it stays.
      await rmdir(join(root, d)).catch(() => undefined);
    }
    if (p.delete.length)
      this.opts.log.info({ deleted: counts, keptBytes: p.keptBytes, capBytes: p.capBytes }, 'recordings deleted');
  }

  /** Level-triggered: reads the path's `record` and changes it only when it differs (a reload resets it). */
  private async switchRecording(config: AuthConfig, record: boolean): Promise<void> {
    const token = readFileSync(config.api.tokenFile, 'utf8').split('\n')[0]?.trim() ?? '';
    const headers = { authorization: `Bearer ${token}` };
    const url = (op: string) => `${this.opts.api}/v3/config/paths/${op}/${config.path}`;
    const got = await request(url('get'), { headers, signal: AbortSignal.timeout(2_000) });
    if (got.statusCode !== 200) {
      await got.body.dump();
      throw new Error(`MediaMTX API answered ${got.statusCode} for the path config`);
    }
    const conf = (await got.body.json()) as { record?: boolean };
    if (conf.record === record) return;
    // Only `record` changes: MediaMTX applies it to the running path without touching publisher or readers.
    const res = await request(url('patch'), {
      method: 'PATCH',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ record }),
      signal: AbortSignal.timeout(2_000),
    });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`MediaMTX API answered ${res.statusCode} to record=${record}`);
  }
}

/** Regular files and directories under root, relative, '/'-separated; symlinks and others are left alone. */
export async function listTree(root: string): Promise<{ files: FileEntry[]; dirs: string[] }> {
  const entries = await readdir(root, { withFileTypes: true, recursive: true });
  const files: FileEntry[] = [];
  const dirs: string[] = [];
  for (const e of entries) {
    const rel = relative(root, join(e.parentPath, e.name)).split(sep).join('/');
    if (e.isDirectory()) dirs.push(rel);
    else if (e.isFile()) {
      // A file removed between readdir and lstat (MediaMTX renames nothing, but a user may delete) is skipped.
      const st = await lstat(join(root, rel)).catch(() => undefined);
      if (st?.isFile()) files.push({ path: rel, size: st.size, mtimeMs: st.mtimeMs });
    }
  }
  return { files, dirs };
}
