// A remote JWKS that is fetched in the background and never on a decision's path: MediaMTX blocks its path
// manager while it waits for the sidecar, so a slow identity provider must not slow down viewers. The fetch, body
// included, has a deadline, and the body a size cap: a provider (or whatever answers at its URL) that trickles or
// streams without end costs the sidecar neither a stuck refresh nor its memory.
// Over ../net/http.ts, not fetch: fetch would load Node's bundled undici and compile its WebAssembly HTTP parser into
// every sidecar that uses a remote JWKS (~30 MiB resident, measured on a bare process).
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { request } from '../net/http.ts';
import { ASYMMETRIC_ALGS, intersect } from './keys.ts';

/** Real JWKS documents are a few KiB; a megabyte is hundreds of keys. */
export const MAX_JWKS_BYTES = 1024 * 1024;

export interface RemoteJwksOptions {
  url: string;
  algorithms?: string[];
  refreshMs?: number;
  /** Minimum time between two fetches triggered by unknown key ids. */
  cooldownMs?: number;
  /** Deadline of one fetch, headers and body. */
  timeoutMs?: number;
  maxBytes?: number;
  onResult?: (ok: boolean, detail: string) => void;
}

export class RemoteJwks {
  private set?: { getKey: JWTVerifyGetKey; algorithms: string[] };
  private lastFetch = 0;
  private inFlight?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private readonly opts: Required<Omit<RemoteJwksOptions, 'algorithms' | 'onResult'>> & RemoteJwksOptions;

  constructor(opts: RemoteJwksOptions) {
    this.opts = {
      refreshMs: 5 * 60_000,
      cooldownMs: 30_000,
      timeoutMs: 5_000,
      maxBytes: MAX_JWKS_BYTES,
      ...opts,
    };
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
    const signal = AbortSignal.timeout(this.opts.timeoutMs);
    try {
      let jwks: JSONWebKeySet;
      try {
        const res = await getFollowingRedirects(this.opts.url, signal);
        if (res.statusCode < 200 || res.statusCode >= 300) {
          res.body.stream.destroy();
          throw new Error(`HTTP ${res.statusCode}`);
        }
        const text = await res.body.text({ limit: this.opts.maxBytes });
        try {
          jwks = JSON.parse(text) as JSONWebKeySet;
        } catch {
          throw new Error('body is not JSON');
        }
      } catch (e) {
        if (signal.aborted) throw new Error(`no complete answer within ${this.opts.timeoutMs} ms`);
        throw e;
      }
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

/** Identity providers and CDNs redirect (http to https, a versioned URL); fetch follows up to 20, this up to 5. */
async function getFollowingRedirects(url: string, signal: AbortSignal) {
  let at = new URL(url);
  for (let hops = 0; ; hops++) {
    const res = await request(at, { signal, headers: { accept: 'application/json' } });
    const location = res.headers.location;
    if (res.statusCode < 300 || res.statusCode >= 400 || res.statusCode === 304 || !location) return res;
    res.body.stream.destroy();
    if (hops === 5) throw new Error('more than 5 redirects');
    at = new URL(location, at);
    if (at.protocol !== 'https:' && at.protocol !== 'http:') throw new Error(`redirected to a ${at.protocol} URL`);
  }
}
