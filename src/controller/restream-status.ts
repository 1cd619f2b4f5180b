// status.restream: each restream target's state, read by the live loop from the stream's auth sidecar
// (GET /restream, src/restream/sidecar.ts) and written only when a target's state or reason changes. The sidecar
// already keeps a failing target in Retrying across MediaMTX's 5-second retries, so a target that never connects
// costs one write, not one per attempt.
import { request } from '../net/http.ts';
import type { TargetStatus } from '../restream/forward.ts';
import type { ApiLocator } from './mediamtx-probe.ts';
import { byCodeUnits } from './status.ts';

export type { TargetStatus };

/** A live stream's sidecar is asked at most this often: a target's state reaches status within a few seconds. */
export const ASK_EVERY_MS = 5_000;

export async function askRestream(base: string, timeoutMs = 2000): Promise<TargetStatus[] | undefined> {
  const res = await request(`${base}/restream`, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.statusCode !== 200) {
    await res.body.dump();
    return undefined;
  }
  return ((await res.body.json()) as { targets?: TargetStatus[] }).targets;
}

const fingerprint = (l: TargetStatus[]) => l.map((t) => `${t.name}\0${t.state}\0${t.reason ?? ''}`).join('\n');

export class RestreamStatusCache {
  private readonly published = new Map<string, TargetStatus[]>();
  private readonly askedAt = new Map<string, number>();
  private readonly opts: { locate: ApiLocator; ask?: typeof askRestream; askEveryMs?: number };

  constructor(opts: RestreamStatusCache['opts']) {
    this.opts = opts;
  }

  get(key: string): TargetStatus[] | undefined {
    return this.published.get(key);
  }

  forget(key: string): void {
    this.published.delete(key);
    this.askedAt.delete(key);
  }

  /**
   * One look from the live loop, for a stream with spec.restream targets. True when status should be written.
   * `current` is what status says now (written before a controller restart): it counts as published. An offline
   * stream is asked until every target reads Idle, then no more until it goes live.
   */
  async refresh(
    key: string,
    namespace: string,
    name: string,
    targets: string[],
    live: boolean,
    now = Date.now(),
    current?: TargetStatus[],
  ): Promise<{ write: boolean; changed: TargetStatus[] }> {
    const none = { write: false, changed: [] };
    if (!this.published.has(key) && current) this.published.set(key, current);
    const prev = this.published.get(key);
    const settled =
      prev &&
      targets.every((t) => prev.some((p) => p.name === t && p.state === 'Idle')) &&
      prev.length === targets.length;
    if (!live && settled) return none;
    if (now - (this.askedAt.get(key) ?? Number.NEGATIVE_INFINITY) < (this.opts.askEveryMs ?? ASK_EVERY_MS)) return none;
    const base = this.opts.locate(namespace, name);
    if (!base) return none;
    this.askedAt.set(key, now);
    const got = await (this.opts.ask ?? askRestream)(base).catch(() => undefined);
    if (!got) return none;
    const wanted = new Set(targets);
    const next = got.filter((t) => wanted.has(t.name)).sort((a, b) => byCodeUnits(a.name, b.name));
    if (prev && fingerprint(prev) === fingerprint(next)) return none;
    const before = new Map((prev ?? []).map((t) => [t.name, t]));
    const changed = next.filter(
      (t) => before.get(t.name)?.state !== t.state || before.get(t.name)?.reason !== t.reason,
    );
    this.published.set(key, next);
    return { write: true, changed };
  }
}
