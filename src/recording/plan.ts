// Retention of a stream's recordings, as a pure function: a listing of the recordings volume in, what to delete
// and whether recording must pause out. The runner (./runner.ts) lists, applies and tells MediaMTX; everything
// that decides is here, so it is tested without a disk.
//
// Why not MediaMTX's recordDeleteAfter alone: it knows age only (no size cap), leaves empty directories behind, and
// when the disk is full MediaMTX 1.20.1 keeps the publisher but restarts its recorder every ~3 s, each time leaving a
// 0-byte segment behind; a 0-byte segment makes the playback server's /list answer 500 ("EOF") until it is removed
// (measured: docs/recordings.md). This planner deletes by age and by size, removes those leftovers and empty
// directories, never touches the segment being written, and says when to pause recording instead of filling the disk.

/** One file under the recordings directory. */
export interface FileEntry {
  /** Path relative to the recordings root, with '/' separators. */
  path: string;
  size: number;
  mtimeMs: number;
}

/** The recordings volume as statfs sees it (bavail: what an unprivileged writer such as MediaMTX may still use). */
export interface VolumeStats {
  totalBytes: number;
  freeBytes: number;
}

export interface RetentionPolicy {
  /** Delete segments whose last write is older than this; 0 keeps them forever. */
  retentionMs: number;
  /** Size cap in bytes for all segments together. */
  maxBytes?: number;
  /** Size cap as a percentage (0-100] of the volume; with maxBytes too, the smaller one applies. */
  maxPercent?: number;
  /** Pause recording when less than this is free and nothing more may be deleted. */
  reserveBytes: number;
  /** Resume once at least this is free (hysteresis, so recording does not flap around the threshold). */
  resumeBytes?: number;
  /** A file written to this recently is in use (being written or just finished): never deleted. */
  busyMs?: number;
}

export type DeleteReason = 'age' | 'size' | 'empty';

export interface PlanInput {
  files: readonly FileEntry[];
  /** Directories under the root (relative paths, not the root itself). */
  dirs: readonly string[];
  volume: VolumeStats;
  policy: RetentionPolicy;
  /** Whether recording is paused now (by us). */
  paused: boolean;
  now: number;
}

export interface Plan {
  delete: { path: string; size: number; reason: DeleteReason }[];
  /** Deepest first, so a parent is removed after its children. */
  removeDirs: string[];
  /** The recording should be paused (true) or running (false) after this pass. */
  pause: boolean;
  /** Why recording is paused, when it is. */
  pauseReason?: 'VolumeFull';
  /** Bytes of segments kept, and how many. */
  keptBytes: number;
  keptSegments: number;
  /** Free bytes once the deletions are done (an estimate: what the deleted files held). */
  freeAfter: number;
  /** The effective size cap, when there is one. */
  capBytes?: number;
  /** The segment being written (newest), never deleted. */
  current?: string;
}

/** Files MediaMTX writes for recordFormat fmp4 or mpegts: nothing else on the volume is ours to delete. */
export const SEGMENT_FILE = /\.(mp4|ts)$/;

/** Directories never removed (ext4 puts lost+found at the root of a fresh volume). */
const KEEP_DIRS = new Set(['lost+found']);

/**
 * MediaMTX closes a segment before it opens the next, so only the newest is ever written to; this window only
 * covers a listing that raced a segment switch.
 */
export const DEFAULT_BUSY_MS = 2_000;

export function capBytes(policy: RetentionPolicy, totalBytes: number): number | undefined {
  const caps = [
    ...(policy.maxBytes !== undefined ? [policy.maxBytes] : []),
    ...(policy.maxPercent !== undefined ? [Math.floor((totalBytes * policy.maxPercent) / 100)] : []),
  ];
  return caps.length ? Math.min(...caps) : undefined;
}

export function plan(input: PlanInput): Plan {
  const { policy, now, volume } = input;
  const busyMs = policy.busyMs ?? DEFAULT_BUSY_MS;
  // Oldest first: by last write, then by name (MediaMTX names segments by their start time).
  const segments = input.files
    .filter((f) => SEGMENT_FILE.test(f.path))
    .sort((a, b) => a.mtimeMs - b.mtimeMs || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const current = segments.at(-1);
  const deletable = (f: FileEntry) => f !== current && now - f.mtimeMs >= busyMs;

  const out: Plan['delete'] = [];
  const gone = new Set<FileEntry>();
  const drop = (f: FileEntry, reason: DeleteReason) => {
    gone.add(f);
    out.push({ path: f.path, size: f.size, reason });
  };
  for (const f of segments) {
    if (!deletable(f)) continue;
    if (f.size === 0) drop(f, 'empty');
    else if (policy.retentionMs > 0 && now - f.mtimeMs > policy.retentionMs) drop(f, 'age');
  }
  let kept = segments.reduce((n, f) => (gone.has(f) ? n : n + f.size), 0);
  const cap = capBytes(policy, volume.totalBytes);
  if (cap !== undefined)
    for (const f of segments) {
      if (kept <= cap) break;
      if (gone.has(f) || !deletable(f)) continue;
      drop(f, 'size');
      kept -= f.size;
    }

  const freed = out.reduce((n, d) => n + d.size, 0);
  const freeAfter = volume.freeBytes + freed;
  const resumeBytes = Math.max(policy.resumeBytes ?? 2 * policy.reserveBytes, policy.reserveBytes);
  const pause = input.paused ? freeAfter < resumeBytes : freeAfter < policy.reserveBytes;

  return {
    delete: out,
    removeDirs: emptyDirs(input.dirs, input.files, gone, current),
    pause,
    ...(pause ? { pauseReason: 'VolumeFull' as const } : {}),
    keptBytes: kept,
    keptSegments: segments.length - gone.size,
    freeAfter,
    ...(cap !== undefined ? { capBytes: cap } : {}),
    ...(current ? { current: current.path } : {}),
  };
}

/** Directories left with nothing in them once the deletions are done, except those on the current segment's path. */
function emptyDirs(
  dirs: readonly string[],
  files: readonly FileEntry[],
  gone: ReadonlySet<FileEntry>,
  current: FileEntry | undefined,
): string[] {
  const occupied = new Set<string>();
  const markParents = (p: string) => {
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) occupied.add(p.slice(0, i));
  };
  for (const f of files) if (!gone.has(f)) markParents(f.path);
  // MediaMTX creates the directory of the next segment itself, but not between our readdir and its open: keep the
  // current segment's directories even if it were gone.
  if (current) markParents(current.path);
  for (const d of dirs) if (KEEP_DIRS.has(d.split('/')[0]!)) occupied.add(d);
  // A directory holding a kept directory is occupied too.
  for (const d of [...occupied]) markParents(d);
  return dirs
    .filter((d) => !occupied.has(d) && !KEEP_DIRS.has(d.split('/')[0]!))
    .sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? -1 : 1));
}

/** The start time MediaMTX puts in a segment's name (recordPath ...%Y-%m-%d_%H-%M-%S-%f, in the pod's UTC). */
export function segmentStart(path: string): Date | undefined {
  const m = /(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})-(\d{6})\.(mp4|ts)$/.exec(path);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, us] = m;
  return new Date(Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!, Math.floor(+us! / 1000)));
}
