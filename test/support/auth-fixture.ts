// Real keys and secret files for the sidecar tests, generated at test time (nothing committed).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import pino from 'pino';
import { mediamtxRequest } from '../../src/auth/request.ts';
import { authMetrics, hookServer } from '../../src/auth/server.ts';
import { AuthStateStore } from '../../src/auth/state.ts';
import type { AuthConfig } from '../../src/render/mediamtx-config.ts';

export const PATH = 'live/s';
export const ISSUER = 'https://id.example.test';
export const AUDIENCE = 'vstream';
export const PUBLISH_TOKEN = 'pub-current-0123456789abcdef';
export const PREVIOUS_TOKEN = 'pub-previous-0123456789abcdef';
export const API_TOKEN = 'api-0123456789abcdef0123456789';
export const HMAC_SECRET = 'hmac-secret-0123456789abcdef0123456789abcdef';

export async function keys() {
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });
  const other = await generateKeyPair('RS256', { extractable: true });
  const rsaJwk: JWK = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
  const ecJwk: JWK = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' };
  return { rsa, ec, other, jwks: { keys: [rsaJwk, ecJwk] }, rsaPublicPem: await exportSPKI(rsa.publicKey) };
}
export type Keys = Awaited<ReturnType<typeof keys>>;

export interface Claims {
  [k: string]: unknown;
}

export async function sign(
  key: CryptoKey | Uint8Array,
  alg: string,
  claims: Claims,
  opts: { kid?: string; now?: number } = {},
) {
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const body: Claims = { iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 600, 'vstream.io/paths': [PATH], ...claims };
  for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k];
  return new SignJWT(body as never).setProtectedHeader({ alg, ...(opts.kid ? { kid: opts.kid } : {}) }).sign(key);
}

/** Writes the config and secret files the way kubelet mounts them, and starts a hook server on them. */
export async function sidecar(
  k: Keys,
  access: 'public' | 'jwt',
  keyMaterial: 'jwks' | 'hmac' = 'jwks',
  logLines: string[] = [],
) {
  const dir = mkdtempSync(join(tmpdir(), 'vstream-auth-'));
  for (const d of ['config', 'publish', 'internal', 'jwt']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'publish/token'), `${PUBLISH_TOKEN}\n${PREVIOUS_TOKEN}\n`);
  writeFileSync(join(dir, 'internal/api-token'), API_TOKEN);
  writeFileSync(join(dir, 'jwt/keys'), keyMaterial === 'jwks' ? JSON.stringify(k.jwks) : HMAC_SECRET);
  const config: AuthConfig = {
    path: PATH,
    publish: { tokenFile: join(dir, 'publish/token') },
    read: {
      access,
      ...(access === 'jwt'
        ? { jwt: { issuer: ISSUER, audience: AUDIENCE, clockSkewSeconds: 30, keysFile: join(dir, 'jwt/keys') } }
        : {}),
    },
    api: { tokenFile: join(dir, 'internal/api-token') },
    metrics: { allow: true },
  };
  writeFileSync(join(dir, 'config/auth.json'), JSON.stringify(config));
  const log = pino({ level: 'debug' }, { write: (l: string) => void logLines.push(l) });
  const metrics = authMetrics();
  const store = new AuthStateStore(join(dir, 'config/auth.json'), log);
  await store.init();
  const app = hookServer(store, metrics, log);
  await app.ready();
  return { app, store, metrics, dir, log };
}

/** A body exactly as MediaMTX 1.20.1 sends it, for this fixture's stream path. */
export const mtx = (fields: Partial<Record<string, unknown>>) => mediamtxRequest({ path: PATH, ...fields });
