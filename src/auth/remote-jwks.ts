// A remote JWKS that is fetched in the background and never on a decision's path: MediaMTX blocks its path
// manager while it waits for the sidecar, so a slow identity provider must not slow down viewers.
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { ASYMMETRIC_ALGS, intersect } from './keys.ts';

export interface RemoteJwksOptions {
  url: string;
  algorithms?: string[];
  refreshMs?: number;
  /** Minimum time between two fetches triggered by unknown key ids. */
  cooldownMs?: number;
  timeoutMs?: number;
  onResult?: (ok: boolean, detail: string) => void;
  fetchImpl?: typeof fetch;
}

export class RemoteJwks {
  private set?: { getKey: JWTVerifyGetKey; algorithms: string[] };
  private lastFetch = 0;
  private inFlight?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private readonly opts: Required<Omit<RemoteJwksOptions, 'algorithms' | 'onResult'>> & RemoteJwksOptions;

  constructor(opts: RemoteJwksOptions) {
    this.opts = { refreshMs: 5 * 60_000, cooldownMs: 30_000, timeoutMs: 5_000, fetchImpl: fetch, ...opts };
  }

  current() {
    return this.set;
  }

  start(): Promise<void> {
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshMs);
    this.timer.unref();
    return this.refresh();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  refreshSoon(): void {
    if (Date.now() - this.lastFetch >= this.opts.cooldownMs) void this.refresh();
  }

  refresh(): Promise<void> {
    this.inFlight ??= this.fetchOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async fetchOnce(): Promise<void> {
    this.lastFetch = Date.now();
    try {
      const res = await this.opts.fetchImpl(this.opts.url, { signal: AbortSignal.timeout(this.opts.timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const jwks = (await res.json()) as JSONWebKeySet;
      if (!Array.isArray(jwks.keys) || !jwks.keys.length) throw new Error('no keys');
      const public_ = jwks.keys.filter((k) => !('d' in k) && k.kty !== 'oct');
      const algorithms = intersect(ASYMMETRIC_ALGS, this.opts.algorithms);
      this.set = { getKey: createLocalJWKSet({ keys: public_ }), algorithms };
      this.opts.onResult?.(true, `${public_.length} keys`);
    } catch (e) {
      // Keep the last good set: an outage of the identity provider must not lock viewers out.
      this.opts.onResult?.(false, (e as Error).message);
    }
  }
}
