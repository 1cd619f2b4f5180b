// Viewer tokens the sidecar accepts: a JWT with iss/aud/exp and the stream paths it is good for.
import { randomBytes } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, importPKCS8, type JWK, SignJWT } from 'jose';
import { PATHS_CLAIM } from '../auth/decide.ts';

export type SigningKey =
  | { kind: 'hmac'; secret: Uint8Array }
  | { kind: 'private'; key: CryptoKey; alg: string; kid?: string };

/** Reads a signing key: a private JWK (JSON), a PKCS#8 PEM, or a raw HMAC secret (the same text the sidecar reads). */
export async function parseSigningKey(text: string, alg?: string): Promise<SigningKey> {
  const t = text.trim();
  if (t.startsWith('{')) {
    const jwk = JSON.parse(t) as JWK & { keys?: JWK[] };
    const k = jwk.keys ? jwk.keys.find((x) => 'd' in x) : jwk;
    if (!k || !('d' in k))
      throw new Error('the key file holds no private key (a JWKS of public keys can verify, not sign)');
    const a = alg ?? k.alg ?? (k.kty === 'EC' ? 'ES256' : k.kty === 'OKP' ? 'EdDSA' : 'RS256');
    return { kind: 'private', key: (await importJWK(k, a)) as CryptoKey, alg: a, ...(k.kid ? { kid: k.kid } : {}) };
  }
  // PEM: importPKCS8 accepts only an unencrypted PKCS#8 private key and says so otherwise.
  if (t.startsWith('-----BEGIN ')) {
    const a = alg ?? 'RS256';
    return { kind: 'private', key: await importPKCS8(t, a), alg: a };
  }
  const secret = new TextEncoder().encode(t);
  if (secret.length < 32) throw new Error('an HMAC secret must be at least 32 bytes');
  return { kind: 'hmac', secret };
}

export interface ViewerTokenOptions {
  paths: string[];
  issuer: string;
  audience: string;
  ttlSeconds: number;
  subject?: string;
  key: SigningKey;
  now?: number;
}

export async function signViewerToken(o: ViewerTokenOptions): Promise<string> {
  const now = Math.floor(o.now ?? Date.now() / 1000);
  const jwt = new SignJWT({ [PATHS_CLAIM]: o.paths })
    .setIssuer(o.issuer)
    .setAudience(o.audience)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + o.ttlSeconds)
    .setJti(randomBytes(8).toString('hex'));
  if (o.subject) jwt.setSubject(o.subject);
  if (o.key.kind === 'hmac') return jwt.setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(o.key.secret);
  return jwt
    .setProtectedHeader({ alg: o.key.alg, typ: 'JWT', ...(o.key.kid ? { kid: o.key.kid } : {}) })
    .sign(o.key.key);
}

/** A new signing key pair: the private JWK for whoever issues tokens, the public JWKS for the LiveStream's Secret. */
export async function generateViewerKeys(alg = 'ES256'): Promise<{ privateJwk: JWK; jwks: { keys: JWK[] } }> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomBytes(6).toString('hex');
  const privateJwk = { ...(await exportJWK(privateKey)), alg, kid, use: 'sig' };
  const publicJwk = { ...(await exportJWK(publicKey)), alg, kid, use: 'sig' };
  return { privateJwk, jwks: { keys: [publicJwk] } };
}

export { newPublishToken, rotateTokens } from './publish.ts';
