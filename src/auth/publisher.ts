// Who holds the stream. MediaMTX runs with overridePublisher: true, so a publisher the hook allows replaces the one
// on air at once: that is what lets OBS reconnect after a network blip (its old session, not yet timed out, would
// otherwise block the new one for up to readTimeout). The hook therefore allows a publish to a busy path only when
// it carries the token of the publisher that holds the path; any other valid token waits until the path is free.
//
// The hook sees every publish attempt with its session id and token; MediaMTX's control API says whether the path
// is online and which session publishes. The API cannot be asked from inside a hook call (MediaMTX's path manager,
// which answers it, is blocked on that very call), so it is polled in the background, and the hook decides from
// the last answer plus the publishes it allowed since that poll began.
import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { http } from '../net/node-http.ts';
import type { PathSnapshot } from './session-control.ts';

export interface PublisherGuardOptions {
  /** MediaMTX's control API, e.g. http://127.0.0.1:9997. */
  api: string;
  /** The stream's path and the file holding the internal API token, read at every poll (they can change); none
   * while the config does not ask for the guard. */
  target: () => { path: string; apiTokenFile: string } | undefined;
  pollMs?: number;
  /** How long a poll answer is trusted; after that the guard falls back to the publishes it allowed itself. */
  freshMs?: number;
  /** Every successful look at the path, with the publishing session (spec.enabled and maxDuration: ./session-control.ts). */
  onPoll?: (snap: PathSnapshot) => Promise<unknown>;
  /** Without a usable poll, a publish allowed this recently is presumed on air. */
  presumedLiveMs?: number;
  /**
   * A publish allowed this recently may not be on air yet even if a poll says the path is offline: between the
   * hook's answer and MediaMTX adding the publisher, RTMP reads the stream's tracks (up to its first keyframe).
   */
  settleMs?: number;
  /**
   * Whether a token is a valid publish token now. With it, a publisher on air that this process did not see allowed
   * (the sidecar restarted) is recognised from the token in its RTMP query (MediaMTX's API lists it), so its
   * reconnect still takes over instead of being refused until the old session times out.
   */
  isPublishToken?: (token: string) => boolean;
  log: Logger;
}

/** A token's identity, kept instead of the token: base64 of its SHA-256. */
export const tokenId = (token: string) => hash('sha256', token, 'base64');

interface Poll {
  /** When the request that produced this answer was sent: publishes allowed after that are not in it. */
  startedAt: number;
  at: number;
  online: boolean;
  /** The publishing session's id, when online. */
  source?: string;
}

const MAX_SESSIONS = 256;

export class PublisherGuard {
  private last?: Poll;
  /** Session id -> the token id it was allowed with (recent ones only). */
  private readonly sessions = new Map<string, { id: string; at: number }>();
  private lastAllowed?: { id: string; session: string | null; at: number };
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private failing = false;
  private readonly opts: Required<Omit<PublisherGuardOptions, 'log' | 'onPoll' | 'isPublishToken'>> &
    Pick<PublisherGuardOptions, 'log' | 'onPoll' | 'isPublishToken'>;
  /** Sessions whose token was already looked up in MediaMTX's API (once each). */
  private readonly recovered = new Set<string>();

  constructor(opts: PublisherGuardOptions) {
    this.opts = { pollMs: 500, freshMs: 5_000, presumedLiveMs: 15_000, settleMs: 5_000, ...opts };
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      await this.poll();
      if (!this.stopped) this.timer = setTimeout(loop, this.opts.pollMs);
      this.timer?.unref();
    };
    void loop();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * A publish with a valid token (its id) on session `session`: may it go on air? True records it as the holder's
   * (or a reconnect of the holder); false means another token holds the stream.
   */
  claim(id: string, session: string | null, now = Date.now()): boolean {
    const holders = this.holders(now);
    if ([...holders].some((h) => h !== id)) return false;
    if (session) {
      this.sessions.delete(session);
      this.sessions.set(session, { id, at: now });
      if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    }
    this.lastAllowed = { id, session, at: now };
    return true;
  }

  /** Token ids that hold the path now ('?' for a publisher the guard did not see allowed: it holds against all). */
  holders(now = Date.now()): Set<string> {
    const out = new Set<string>();
    const p = this.last;
    const { freshMs, settleMs, presumedLiveMs } = this.opts;
    const fresh = p && now - p.at <= freshMs;
    if (fresh && p.online) out.add((p.source && this.sessions.get(p.source)?.id) ?? '?');
    // A publish allowed after the last poll was sent, or moments ago, may be (about to be) on air.
    const recent = this.lastAllowed;
    const age = recent ? now - recent.at : Number.POSITIVE_INFINITY;
    if (recent && (age <= settleMs || (fresh ? recent.at >= p.startedAt : age <= presumedLiveMs))) out.add(recent.id);
    return out;
  }

  /** The token of an RTMP publisher on air that this process never saw allowed, from its query (see isPublishToken). */
  private async recoverHolder(session: string, apiToken: string): Promise<void> {
    if (!this.opts.isPublishToken || this.recovered.has(session)) return;
    this.recovered.add(session);
    if (this.recovered.size > MAX_SESSIONS) this.recovered.delete(this.recovered.values().next().value!);
    const res = await getJson(`${this.opts.api}/v3/rtmpconns/get/${encodeURIComponent(session)}`, apiToken, 2_000);
    const query = res.status === 200 ? (res.body as { query?: string }).query : undefined;
    const token = query ? new URLSearchParams(query).get('token') : null;
    if (token && this.opts.isPublishToken(token)) {
      this.sessions.set(session, { id: tokenId(token), at: Date.now() });
      this.opts.log.info({ id: session }, 'publisher guard: recognised the publisher on air');
    }
  }

  /** One look at the path; exported for tests. */
  async poll(): Promise<void> {
    const target = this.opts.target();
    if (!target) return;
    const { path, apiTokenFile } = target;
    const startedAt = Date.now();
    try {
      const token = readFileSync(apiTokenFile, 'utf8').split('\n')[0]?.trim() ?? '';
      const res = await getJson(`${this.opts.api}/v3/paths/get/${path}`, token, 2_000);
      let online = false;
      let source: string | undefined;
      const snap: PathSnapshot = { online: false };
      if (res.status !== 404 && res.status !== 200) throw new Error(`MediaMTX API answered ${res.status}`);
      if (res.status === 200) {
        const body = res.body as {
          online?: boolean;
          ready?: boolean;
          onlineTime?: string | null;
          source?: { id?: string; type?: string } | null;
        };
        online = Boolean(body.online ?? body.ready);
        source = online ? body.source?.id : undefined;
        snap.online = online;
        if (source) snap.source = { id: source, type: body.source?.type ?? 'unknown' };
        if (online && body.onlineTime) snap.onlineTime = body.onlineTime;
      }
      if (source && snap.source?.type === 'rtmpConn' && !this.sessions.has(source))
        await this.recoverHolder(source, token);
      this.last = { startedAt, at: Date.now(), online, ...(source ? { source } : {}) };
      if (this.failing) this.opts.log.info('publisher guard: MediaMTX API reachable again');
      this.failing = false;
      // Forget sessions that are neither on air nor recent.
      for (const [s, v] of this.sessions) if (s !== source && Date.now() - v.at > 60_000) this.sessions.delete(s);
      await this.opts.onPoll?.(snap);
    } catch (e) {
      if (!this.failing)
        this.opts.log.warn(
          { error: (e as Error).message },
          'publisher guard: cannot ask MediaMTX whether the path is live',
        );
      this.failing = true;
    }
  }
}

/** POST <api>/v3/<kind>/kick/<id> with the internal API token (file read at each call: it can rotate). */
export async function kickSession(api: string, apiTokenFile: string, kind: string, id: string): Promise<boolean> {
  const token = readFileSync(apiTokenFile, 'utf8').split('\n')[0]?.trim() ?? '';
  const res = await getJson(`${api}/v3/${kind}/kick/${encodeURIComponent(id)}`, token, 2_000, 'POST');
  // 404: the session ended meanwhile, which is what was wanted.
  return res.status === 200 || res.status === 404;
}

/**
 * One GET to MediaMTX's API on loopback, with node:http: the sidecar needs nothing more, and undici's fetch would load
 * ~5 MiB of JavaScript into every stream pod for this one poll (bench/stream-cost.ts).
 */
export function getJson(
  url: string,
  token: string,
  timeoutMs: number,
  method = 'GET',
): Promise<{ status: number; body?: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          res.resume();
          resolve({ status });
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          // A path's description is a few KiB; more is not MediaMTX.
          if (size > 1 << 20) req.destroy(new Error('MediaMTX API answer too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          try {
            resolve({ status, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          } catch {
            reject(new Error('MediaMTX API answer is not JSON'));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
