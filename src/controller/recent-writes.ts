// Read-your-writes without touching the informer's cache (client-go's MutationCache idea). The informer store
// holds only what watch events delivered, so an update event's "old" object is always the previous server state
// and a spec edit is never compared against a status write of ours and dropped. Our own write results live here,
// and a read takes whichever of the two is newer by resourceVersion.
import type { KubeObject } from '../kube/rest.ts';

type Obj = { metadata: Pick<KubeObject['metadata'], 'resourceVersion'> };

const version = (o: Obj): bigint | undefined => {
  try {
    return BigInt(o.metadata.resourceVersion ?? '');
  } catch {
    return undefined;
  }
};

export class RecentWrites<T extends Obj> {
  private readonly written = new Map<string, { obj: T; at: number }>();
  private readonly ttlMs: number;

  constructor(ttlMs = 10 * 60_000) {
    this.ttlMs = ttlMs;
  }

  record(key: string, obj: T): void {
    this.written.set(key, { obj, at: Date.now() });
  }

  /** The newer of the cached object and our last write; the write is dropped once the cache has caught up. */
  resolve(key: string, cached: T | undefined): T | undefined {
    const w = this.written.get(key);
    if (!w) return cached;
    if (Date.now() - w.at > this.ttlMs) {
      this.written.delete(key);
      return cached;
    }
    if (!cached) return w.obj;
    const a = version(cached);
    const b = version(w.obj);
    // Unparseable versions: trust the watch (the server's order), as client-go does for non-numeric versions.
    if (a === undefined || b === undefined || a >= b) {
      this.written.delete(key);
      return cached;
    }
    return w.obj;
  }

  /** The version our last write returned, if the cache has not caught up with it yet or it is still current. */
  versionOf(key: string): string | undefined {
    return this.written.get(key)?.obj.metadata.resourceVersion;
  }

  forget(key: string): void {
    this.written.delete(key);
  }

  get size(): number {
    return this.written.size;
  }
}
