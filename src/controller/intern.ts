// JSON.parse gives every object its own copy of every string, so the caches held the same apiVersion, kind, labels,
// owner references, image names and condition messages once per object: at 1 000 streams, 13 MiB of the
// controller's heap were strings, most of them repeats. Cached objects share one copy of each instead.

/** Values that differ in every object and every version: interning them would only grow the table. */
const UNIQUE_KEYS = new Set(['resourceVersion', 'creationTimestamp', 'clusterIP', 'clusterIPs', 'uid']);
/** Longer strings are rarely repeated (certificates, configs) and are not worth a table entry. */
const MAX_LENGTH = 256;

export class Interner {
  private table = new Map<string, string>();
  private readonly limit: number;

  /** `limit` bounds the table: when full it starts over, which costs sharing for a while, never correctness. */
  constructor(limit = 500_000) {
    this.limit = limit;
  }

  get size(): number {
    return this.table.size;
  }

  string(s: string): string {
    const shared = this.table.get(s);
    if (shared !== undefined) return shared;
    if (this.table.size >= this.limit) this.table = new Map();
    this.table.set(s, s);
    return s;
  }

  /** Replaces, in place, every short string value in a parsed JSON value with its shared copy. */
  value<T>(v: T): T {
    this.walk(v as unknown);
    return v;
  }

  private walk(v: unknown): void {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (typeof x === 'string') {
          if (x.length <= MAX_LENGTH) v[i] = this.string(x);
        } else if (x && typeof x === 'object') this.walk(x);
      }
      return;
    }
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    for (const k in o) {
      const x = o[k];
      if (typeof x === 'string') {
        if (x.length <= MAX_LENGTH && !UNIQUE_KEYS.has(k)) o[k] = this.string(x);
      } else if (x && typeof x === 'object' && !UNIQUE_KEYS.has(k)) this.walk(x);
    }
  }
}

/** One table for every cache of the process: the same strings recur across kinds (names, labels, apiVersions). */
export const sharedInterner = new Interner();
