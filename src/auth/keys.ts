// Parsing of the secret files the sidecar reads. Errors describe the file, never its content.
import { createSecretKey, hash, timingSafeEqual } from 'node:crypto';
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { ASYMMETRIC_JWT_ALGORITHMS, HMAC_JWT_ALGORITHMS } from '../api/livestream.ts';

export const MIN_TOKEN_LENGTH = 16;
export const MIN_HMAC_BYTES = 32;

/**
 * A set of accepted opaque tokens (publish tokens: current and previous, one per line), compared in constant
 * time. Tokens are held as SHA-256 digests so every comparison is between equal-length buffers.
 */
export class TokenSet {
  readonly size: number;
  private readonly digests: Buffer[];

  constructor(tokens: string[]) {
    this.digests = tokens.map(digest);
    this.size = tokens.length;
  }

  static parse(text: string, what: string): TokenSet {
    const tokens = text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    if (!tokens.length) throw new Error(`${what}: no token in file`);
    const short = tokens.filter((t) => t.length < MIN_TOKEN_LENGTH).length;
    if (short) throw new Error(`${what}: ${short} token(s) shorter than ${MIN_TOKEN_LENGTH} characters`);
    // A ':' makes MediaMTX split a Bearer value into user and password, so such a token could never match.
    if (tokens.some((t) => t.includes(':'))) throw new Error(`${what}: tokens must not contain ':'`);
    return new TokenSet(tokens);
  }

  /** True when any candidate equals any accepted token. Checks every pair so timing does not reveal which. */
  matches(candidates: string[]): boolean {
    let ok = false;
    for (const c of candidates) {
      if (!c) continue;
      const d = digest(c);
      for (const t of this.digests) ok = timingSafeEqual(d, t) || ok;
    }
    return ok;
  }
}

// One-shot hashing: no Hash object per call on the hot path.
const digest = (s: string): Buffer => hash('sha256', s, 'buffer');

export const ASYMMETRIC_ALGS: readonly string[] = ASYMMETRIC_JWT_ALGORITHMS;
export const HMAC_ALGS: readonly string[] = HMAC_JWT_ALGORITHMS;

/** Verification material from the keys Secret: a JWKS of public keys, or a raw HMAC secret. */
export type JwtKeys =
  | { kind: 'jwks'; getKey: JWTVerifyGetKey; algorithms: string[]; count: number }
  | { kind: 'hmac'; getKey: JWTVerifyGetKey; algorithms: string[] };

export function parseJwtKeys(text: string, what: string, allowed?: string[]): JwtKeys {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(trimmed) as JSONWebKeySet;
    } catch {
      throw new Error(`${what}: looks like JSON but does not parse`);
    }
    if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new Error(`${what}: JWKS has no "keys"`);
    // Private or symmetric keys in a verification JWKS are a leak or a mistake; refuse them rather than use them.
    if (jwks.keys.some((k) => 'd' in k || k.kty === 'oct')) {
      throw new Error(`${what}: JWKS must hold public keys only (found a private or symmetric key)`);
    }
    const algorithms = intersect(ASYMMETRIC_ALGS, allowed);
    if (!algorithms.length) throw new Error(`${what}: no asymmetric algorithm allowed for a JWKS`);
    return { kind: 'jwks', getKey: createLocalJWKSet(jwks), algorithms, count: jwks.keys.length };
  }
  const secret = new TextEncoder().encode(trimmed);
  if (secret.length < MIN_HMAC_BYTES) throw new Error(`${what}: HMAC secret shorter than ${MIN_HMAC_BYTES} bytes`);
  const algorithms = intersect(HMAC_ALGS, allowed);
  if (!algorithms.length) throw new Error(`${what}: no HS* algorithm allowed for an HMAC secret`);
  // One CryptoKey per allowed HS algorithm, imported once: handed raw bytes, jose imports them on every verification.
  const key = createSecretKey(secret);
  const byAlg = new Map(
    algorithms.map((alg) => [alg, key.toCryptoKey({ name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify'])]),
  );
  // jose checks the header's alg against `algorithms` before it asks for a key, so every alg here has one.
  return { kind: 'hmac', getKey: (header) => byAlg.get(header.alg!)!, algorithms };
}

export const intersect = (base: readonly string[], allowed?: string[]): string[] =>
  allowed?.length ? base.filter((a) => allowed.includes(a)) : [...base];
