// request in -> decision out. The only I/O-free-but-async part is JWT verification (jose's API is async).
import { hash } from 'node:crypto';
import { type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import type { AuthConfig, AuthRequest } from './contract.ts';
import type { JwtKeys, TokenSet } from './keys.ts';
import { type PublisherGuard, tokenId } from './publisher.ts';
import type { RemoteJwks } from './remote-jwks.ts';
import type { SessionControl } from './session-control.ts';

export interface Decision {
  allow: boolean;
  /** HTTP status for MediaMTX: any 2xx allows. 401 when credentials are missing or wrong, 403 when valid but not allowed. */
  status: 200 | 400 | 401 | 403;
  reason: string;
}

/** Everything a decision depends on; swapped atomically when a file changes. */
export interface AuthState {
  config: AuthConfig;
  publishTokens?: TokenSet;
  apiTokens?: TokenSet;
  jwtKeys?: JwtKeys;
  remote?: RemoteJwks;
  jwtCache: JwtCache;
  /** With MediaMTX's overridePublisher on: who holds the stream (only that token may take over a live path). */
  publisher?: PublisherGuard;
  /** spec.enabled as pushed by the controller or read from auth.json (./session-control.ts). */
  control?: SessionControl;
}

const allow = (reason: string): Decision => ({ allow: true, status: 200, reason });
const deny = (status: 400 | 401 | 403, reason: string): Decision => ({ allow: false, status, reason });

/** Our own claim: the stream paths a viewer token is good for ("*" for all streams of the issuer). */
export const PATHS_CLAIM = 'vstream.io/paths';
/** MediaMTX's claim (authJWTClaimKey default), accepted so existing tokens keep working. */
export const MEDIAMTX_CLAIM = 'mediamtx_permissions';

const nonEmpty = (c: string | null | undefined): c is string => typeof c === 'string' && c.length > 0;

/** Every place a client can put a credential, in MediaMTX's precedence order, de-duplicated. */
export function credentialCandidates(req: AuthRequest): string[] {
  return [...new Set([...directCredentials(req), ...queryCredentials(req)])];
}
const directCredentials = (req: AuthRequest) => [req.token, req.password].filter(nonEmpty);
function queryCredentials(req: AuthRequest): string[] {
  if (!req.query) return [];
  const q = new URLSearchParams(req.query);
  return [q.get('token'), q.get('jwt')].filter(nonEmpty);
}

/**
 * An opaque-token check (publish, api). The fields MediaMTX fills itself are tried first, so the common case never
 * parses the query string; every comparison is constant-time (TokenSet.matches).
 */
function checkToken(
  set: TokenSet | undefined,
  req: AuthRequest,
  ok: string,
  bad: string,
  unavailable: string,
): Decision {
  const direct = directCredentials(req);
  if (set && direct.length && set.matches(direct)) return allow(ok);
  const query = queryCredentials(req);
  if (!direct.length && !query.length) return deny(401, 'no_credentials');
  if (!set) return deny(401, unavailable);
  return query.length && set.matches(query) ? allow(ok) : deny(401, bad);
}

/** Synchronous for everything but JWTs (jose's verification is async), so the hot publish path allocates no promise. */
export function decide(
  req: AuthRequest,
  state: AuthState,
  nowSeconds = Date.now() / 1000,
): Decision | Promise<Decision> {
  const { config } = state;
  switch (req.action) {
    case 'metrics':
      return config.metrics.allow ? allow('metrics_allowed') : deny(403, 'metrics_disabled');
    case 'pprof':
      return deny(403, 'pprof_disabled');
    case 'api':
      return checkToken(state.apiTokens, req, 'api_token', 'bad_api_token', 'api_token_unavailable');
    case 'publish': {
      if (req.path !== config.path) return deny(403, 'wrong_path');
      const d = checkToken(state.publishTokens, req, 'publish_token', 'bad_publish_token', 'publish_token_unavailable');
      if (!d.allow) return d;
      // After the token check, so a wrong token is still logged as one while the stream is off.
      if (!(state.control ? state.control.enabled() : config.publish.enabled !== false))
        return deny(403, 'stream_disabled');
      if (!state.publisher || config.publish.override !== 'sameToken') return d;
      // A reconnect of the publisher on air takes over; another token holder waits until the stream is free.
      const token = credentialCandidates(req).find((c) => state.publishTokens!.matches([c]))!;
      return state.publisher.claim(tokenId(token), req.id ?? null) ? d : deny(403, 'path_busy');
    }
    case 'read':
    case 'playback': {
      if (req.path !== config.path) return deny(403, 'wrong_path');
      if (config.read.access === 'public') return allow('public');
      // The pod's own media container (thumbnails) reads with the per-stream internal token, from loopback only: the
      // token never leaves the pod and the controller, and a viewer cannot use it from outside.
      if (config.media && req.action === 'read' && isLoopback(req.ip) && state.apiTokens) {
        const internal = credentialCandidates(req).filter((c) => !looksLikeJwt(c));
        if (internal.length && state.apiTokens.matches(internal)) return allow('internal_read');
      }
      const jwt = config.read.jwt;
      if (!jwt) return deny(401, 'jwt_not_configured');
      const creds = credentialCandidates(req).filter(looksLikeJwt);
      if (!creds.length) return deny(401, 'no_credentials');
      return jwtDecision(creds, req, state, jwt.clockSkewSeconds, nowSeconds);
    }
    default:
      return deny(400, 'unknown_action');
  }
}

/**
 * Tokens verified before are decided synchronously from the cache (a player re-authenticating pays for no promise and
 * no signature check); only the others go through jose. Any valid candidate allows; otherwise the last denial stands.
 */
function jwtDecision(
  creds: string[],
  req: AuthRequest,
  state: AuthState,
  skew: number,
  now: number,
): Decision | Promise<Decision> {
  let last: Decision | undefined;
  let unverified: string[] | undefined;
  for (const jwt of creds) {
    const known = state.jwtCache.get(jwt, now);
    if (!known) {
      unverified ??= [];
      unverified.push(jwt);
    } else {
      const d = 'reason' in known ? deny(401, known.reason) : claimsDecision(known.payload, req, skew, now);
      if (d.allow) return d;
      last = d;
    }
  }
  return unverified ? verifyEach(unverified, req, state, skew, now, last) : last!;
}

async function verifyEach(
  creds: string[],
  req: AuthRequest,
  state: AuthState,
  skew: number,
  now: number,
  last: Decision | undefined,
): Promise<Decision> {
  for (const jwt of creds) {
    // Remembered by the one caller that verifies, not by every request that waited on it.
    const verified = await state.jwtCache.verifyOnce(jwt, () =>
      verify(jwt, state, now).then((v) => {
        if (!('reason' in v) || FINAL_FAILURES.has(v.reason)) state.jwtCache.set(jwt, v, now);
        return v;
      }),
    );
    if ('reason' in verified) {
      last = deny(401, verified.reason);
      continue;
    }
    const d = claimsDecision(verified.payload, req, skew, now);
    if (d.allow) return d;
    last = d;
  }
  return last ?? deny(401, 'invalid_jwt');
}

const isLoopback = (ip: string) => ip === '127.0.0.1' || ip === '::1' || ip === '::ffff:127.0.0.1';

const looksLikeJwt = (s: string) => s.length < 8192 && /^[\w-]+\.[\w-]+\.[\w-]*$/.test(s);

/** exp/nbf are checked on every use, not only at verification: a cached token must not outlive its validity. */
function claimsDecision(payload: JWTPayload, req: AuthRequest, skew: number, now: number): Decision {
  if (typeof payload.exp === 'number' && now > payload.exp + skew) return deny(401, 'jwt_expired');
  if (typeof payload.nbf === 'number' && now + skew < payload.nbf) return deny(401, 'jwt_not_yet_valid');
  return pathAllowed(payload, req.action, req.path) ? allow('jwt') : deny(403, 'jwt_wrong_path');
}

type Verified = { payload: JWTPayload } | { reason: string };

/**
 * Failures that stay true for as long as the keys and config do (the cache is replaced when they change): remembered,
 * so a client retrying a forged or expired token costs a lookup, not a signature check. A token that is not yet valid,
 * signed by a key not yet published, or met before the keys loaded may become good, and is checked again.
 */
const FINAL_FAILURES = new Set([
  'jwt_bad_signature',
  'jwt_malformed',
  'jwt_alg_not_allowed',
  'jwt_wrong_issuer',
  'jwt_wrong_audience',
  'jwt_expired',
]);

async function verify(jwt: string, state: AuthState, now: number): Promise<Verified> {
  const cfg = state.config.read.jwt!;
  const options = {
    issuer: cfg.issuer,
    audience: cfg.audience,
    clockTolerance: cfg.clockSkewSeconds,
    currentDate: new Date(now * 1000),
    requiredClaims: ['exp'],
  };
  let reason = 'jwt_keys_unavailable';
  const keys = state.jwtKeys;
  if (keys) {
    try {
      return { payload: (await jwtVerify(jwt, keys.getKey, { ...options, algorithms: keys.algorithms })).payload };
    } catch (e) {
      reason = jwtFailure(e);
    }
  }
  const remote = state.remote?.current();
  if (remote) {
    try {
      return { payload: (await jwtVerify(jwt, remote.getKey, { ...options, algorithms: remote.algorithms })).payload };
    } catch (e) {
      reason = jwtFailure(e);
      // A key we have not seen may have been published since the last fetch: refresh in the background.
      if (e instanceof joseErrors.JWKSNoMatchingKey) state.remote?.refreshSoon();
    }
  }
  return { reason };
}

function jwtFailure(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return 'jwt_expired';
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === 'nbf') return 'jwt_not_yet_valid';
    if (e.claim === 'iss') return 'jwt_wrong_issuer';
    if (e.claim === 'aud') return 'jwt_wrong_audience';
    return `jwt_bad_${e.claim.replace(/\W/g, '_')}`;
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return 'jwt_alg_not_allowed';
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'jwt_bad_signature';
  if (e instanceof joseErrors.JWKSNoMatchingKey) return 'jwt_unknown_key';
  if (e instanceof joseErrors.JWSInvalid || e instanceof joseErrors.JWTInvalid) return 'jwt_malformed';
  return 'invalid_jwt';
}

function pathAllowed(payload: JWTPayload, action: string, path: string): boolean {
  const ours = payload[PATHS_CLAIM];
  if (Array.isArray(ours) && ours.some((p) => p === '*' || p === path)) return true;
  let perms = payload[MEDIAMTX_CLAIM];
  if (typeof perms === 'string') {
    try {
      perms = JSON.parse(perms);
    } catch {
      return false;
    }
  }
  if (!Array.isArray(perms)) return false;
  return perms.some((p: unknown) => {
    if (!p || typeof p !== 'object') return false;
    const { action: a, path: pp } = p as { action?: unknown; path?: unknown };
    if (a !== action) return false;
    if (pp === undefined || pp === '') return true;
    if (typeof pp !== 'string') return false;
    if (pp.startsWith('~')) return safeRegExp(pp.slice(1))?.test(path) ?? false;
    return pp === path;
  });
}

function safeRegExp(source: string): RegExp | undefined {
  if (source.length > 256) return undefined;
  try {
    return new RegExp(source);
  } catch {
    return undefined;
  }
}

/**
 * Verification results by token (payloads, and failures that cannot change), so a player that re-authenticates, or a
 * client retrying a bad token, does not pay for a signature check again.
 * Bounded (least recently used out first), replaced on every key change, and never trusted for exp/nbf
 * (claimsDecision re-checks those on every use).
 *
 * Memory under a storm: entries are keyed by the token's SHA-256 (32 bytes), never by the token, which a client
 * chooses and may make 8 KiB long: keyed by the token itself, 10 000 forged 4 KiB tokens held ~40 MiB of strings and
 * grew the sidecar past its memory limit (bench/stream-cost.ts, the junk storm). Failures have their own, smaller
 * bound, so a storm of forged tokens evicts other forged tokens, not the viewers already verified.
 */
export class JwtCache {
  // lru-cache evicts in O(1) by reusing slots; a Map evicting its oldest key walks the holes that earlier deletes
  // left at its front, which cost ~10 % of uncached JWT throughput at 10 000 entries.
  private readonly verified: LRUCache<string, { verified: Verified; until: number }>;
  private readonly failed: LRUCache<string, { verified: Verified; until: number }>;
  private readonly pending = new Map<string, Promise<Verified>>();
  private readonly ttlSeconds: number;

  constructor(max = 10_000, ttlSeconds = 60, maxFailures = Math.max(1, Math.ceil(max / 10))) {
    this.verified = new LRUCache({ max });
    this.failed = new LRUCache({ max: maxFailures });
    this.ttlSeconds = ttlSeconds;
  }

  get(token: string, now: number): Verified | undefined {
    const k = cacheKey(token);
    const e = this.verified.get(k) ?? this.failed.get(k);
    if (!e) return undefined;
    if (e.until < now) {
      this.verified.delete(k);
      this.failed.delete(k);
      return undefined;
    }
    return e.verified;
  }

  set(token: string, verified: Verified, now: number): void {
    ('reason' in verified ? this.failed : this.verified).set(cacheKey(token), {
      verified,
      until: now + this.ttlSeconds,
    });
  }

  /**
   * One verification per token at a time: viewers sharing a token (one link for a whole audience) who join together
   * cost one signature check, not one each.
   */
  verifyOnce(token: string, verify: () => Promise<Verified>): Promise<Verified> {
    const k = cacheKey(token);
    let p = this.pending.get(k);
    if (!p) {
      p = verify().finally(() => this.pending.delete(k));
      this.pending.set(k, p);
    }
    return p;
  }

  clear(): void {
    this.verified.clear();
    this.failed.clear();
  }
}

// One-shot hashing (no Hash object); ~1 µs, against ~100 µs for the signature check it saves.
const cacheKey = (token: string) => hash('sha256', token, 'base64');
