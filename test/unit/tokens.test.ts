// Viewer tokens from `vstream token viewer` are accepted by the sidecar; rotation keeps the previous publish token;
// a remote JWKS is fetched in the background and never delays a decision.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWTVerifyGetKey, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthState, decide, JwtCache } from '../../src/auth/decide.ts';
import { parseJwtKeys, TokenSet } from '../../src/auth/keys.ts';
import { RemoteJwks } from '../../src/auth/remote-jwks.ts';
import type { AuthConfig } from '../../src/render/mediamtx-config.ts';
import {
  generateViewerKeys,
  newPublishToken,
  parseSigningKey,
  rotateTokens,
  type SigningKey,
  signViewerToken,
} from '../../src/token/viewer.ts';
import { mtx } from '../support/auth-fixture.ts';

const PATH = 'live/s';
const config = (jwt: Partial<NonNullable<AuthConfig['read']['jwt']>> = {}): AuthConfig => ({
  path: PATH,
  publish: { tokenFile: '/x' },
  read: { access: 'jwt', jwt: { issuer: 'https://id', audience: 'vstream', clockSkewSeconds: 30, ...jwt } },
  api: { tokenFile: '/y' },
  metrics: { allow: true },
});

/** A 60 s viewer token for PATH from issuer https://id. */
const viewerToken = (key: SigningKey) =>
  signViewerToken({ paths: [PATH], issuer: 'https://id', audience: 'vstream', ttlSeconds: 60, key });

describe('viewer tokens', () => {
  it('are accepted for their stream only, with a generated key pair', async () => {
    const { privateJwk, jwks } = await generateViewerKeys('ES256');
    const key = await parseSigningKey(JSON.stringify(privateJwk));
    const token = await viewerToken(key);
    const state: AuthState = {
      config: config(),
      jwtKeys: parseJwtKeys(JSON.stringify(jwks), 'keys'),
      jwtCache: new JwtCache(),
    };
    expect((await decide(mtx({ token }) as never, state)).allow).toBe(true);
    expect((await decide(mtx({ token, path: 'live/other' }) as never, state)).allow).toBe(false);
    // expired once the TTL (plus skew) has passed
    expect(
      (await decide(mtx({ token }) as never, { ...state, jwtCache: new JwtCache() }, Date.now() / 1000 + 60 + 31))
        .reason,
    ).toBe('jwt_expired');
  });

  it('work with an HMAC secret the sidecar reads from the same Secret', async () => {
    const secret = 'a-very-long-shared-hmac-secret-of-40-bytes!!';
    const token = await viewerToken(await parseSigningKey(secret));
    const state: AuthState = { config: config(), jwtKeys: parseJwtKeys(secret, 'keys'), jwtCache: new JwtCache() };
    expect((await decide(mtx({ token }) as never, state)).allow).toBe(true);
  });

  it('refuse to sign with a public-only JWKS', async () => {
    const { jwks } = await generateViewerKeys('ES256');
    await expect(parseSigningKey(JSON.stringify(jwks))).rejects.toThrow(/no private key/);
  });
});

describe('verified viewer tokens', () => {
  /** A JWKS whose key lookups are counted: jose asks for the key once per signature it checks. */
  async function countedJwks() {
    const { privateJwk, jwks } = await generateViewerKeys('ES256');
    const keys = parseJwtKeys(JSON.stringify(jwks), 'keys');
    if (keys.kind !== 'jwks') throw new Error('expected a JWKS');
    const counter = { checks: 0 };
    const getKey: JWTVerifyGetKey = (header, token) => {
      counter.checks++;
      return keys.getKey(header, token);
    };
    // A cache that outlives the 60 s tokens, so expiry is seen from the cache and not from a new verification.
    const state: AuthState = { config: config(), jwtKeys: { ...keys, getKey }, jwtCache: new JwtCache(100, 3600) };
    return { state, counter, key: await parseSigningKey(JSON.stringify(privateJwk)) };
  }

  it('are decided synchronously once verified, and still expire', async () => {
    const { state, counter, key } = await countedJwks();
    const token = await viewerToken(key);
    const first = decide(mtx({ token }) as never, state);
    expect(first).toBeInstanceOf(Promise);
    expect((await first).allow).toBe(true);
    // A player reconnecting with the same token: answered from the cache, without a promise or a signature check.
    const again = decide(mtx({ token }) as never, state);
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toMatchObject({ allow: true, reason: 'jwt' });
    expect(decide(mtx({ token, path: 'live/other' }) as never, state)).toMatchObject({ reason: 'wrong_path' });
    // The cache never extends a token's life: past exp + skew it is denied, still synchronously.
    expect(decide(mtx({ token }) as never, state, Date.now() / 1000 + 60 + 31)).toMatchObject({
      allow: false,
      reason: 'jwt_expired',
    });
    expect(counter.checks).toBe(1);
  });

  it('are kept up to the bound, least recently used out first, and for the cache TTL at most', () => {
    const cache = new JwtCache(2, 60);
    const payload = { payload: { exp: 2_000_000_000 } };
    cache.set('a', payload, 1000);
    cache.set('b', payload, 1000);
    expect(cache.get('a', 1001)).toBe(payload); // a is now the most recently used
    cache.set('c', payload, 1002);
    expect([cache.get('a', 1003), cache.get('b', 1003), cache.get('c', 1003)]).toEqual([payload, undefined, payload]);
    expect(cache.get('a', 1061)).toBeUndefined(); // set at 1000 with a 60 s TTL
  });

  it('are checked once when many viewers present the same token at the same moment', async () => {
    const { state, counter, key } = await countedJwks();
    const token = await viewerToken(key);
    const decisions = await Promise.all(Array.from({ length: 50 }, () => decide(mtx({ token }) as never, state)));
    expect(decisions.every((d) => d.allow)).toBe(true);
    expect(counter.checks).toBe(1);
    // A bad token shared the same way is denied for every one of them, still with one check.
    const forged = `${token.slice(0, -4)}AAAA`;
    const denials = await Promise.all(Array.from({ length: 20 }, () => decide(mtx({ token: forged }) as never, state)));
    expect(denials.map((d) => d.reason)).toEqual(Array(20).fill('jwt_bad_signature'));
    expect(counter.checks).toBe(2);
    // ...and retried later, it is denied from memory: a forged token cannot buy signature checks.
    expect(decide(mtx({ token: forged }) as never, state)).toMatchObject({ allow: false, reason: 'jwt_bad_signature' });
    expect(counter.checks).toBe(2);
  });

  it('signed with any allowed HS algorithm verify against one HMAC secret, and others do not', async () => {
    const secret = 'a-very-long-shared-hmac-secret-of-40-bytes!!';
    const bytes = new TextEncoder().encode(secret);
    const sign = (alg: string) =>
      new SignJWT({ 'vstream.io/paths': [PATH] })
        .setProtectedHeader({ alg })
        .setIssuer('https://id')
        .setAudience('vstream')
        .setExpirationTime('1m')
        .sign(bytes);
    const all: AuthState = { config: config(), jwtKeys: parseJwtKeys(secret, 'keys'), jwtCache: new JwtCache() };
    for (const alg of ['HS256', 'HS384', 'HS512'])
      expect((await decide(mtx({ token: await sign(alg) }) as never, all)).allow, alg).toBe(true);
    const only512: AuthState = {
      config: config({ algorithms: ['HS512'] }),
      jwtKeys: parseJwtKeys(secret, 'keys', ['HS512']),
      jwtCache: new JwtCache(),
    };
    expect((await decide(mtx({ token: await sign('HS512') }) as never, only512)).allow).toBe(true);
    expect(await decide(mtx({ token: await sign('HS256') }) as never, only512)).toMatchObject({
      allow: false,
      reason: 'jwt_alg_not_allowed',
    });
  });
});

describe('publish token rotation', () => {
  it('puts a fresh token first and keeps exactly the previous one', () => {
    const a = newPublishToken();
    const b = newPublishToken();
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[\w-]{32}$/);
    const once = rotateTokens(`${a}\n`, b);
    expect(once).toBe(`${b}\n${a}\n`);
    const twice = rotateTokens(once, 'c'.repeat(32));
    expect(twice).toBe(`${'c'.repeat(32)}\n${b}\n`);
    const set = TokenSet.parse(twice, 'f');
    expect(set.matches([b])).toBe(true);
    expect(set.matches([a])).toBe(false);
  });
});

describe('remote JWKS', () => {
  let server: Server;
  let delayMs = 0;
  let jwks: unknown;
  let fetches = 0;
  let url = '';
  beforeAll(async () => {
    server = createServer((_req, res) => {
      fetches++;
      setTimeout(() => res.end(JSON.stringify(jwks)), delayMs);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  afterAll(() => {
    server.close();
  });

  it('verifies with fetched keys, keeps them when the provider fails, and never waits for a slow fetch', async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'r1', alg: 'RS256' }] };
    const remote = new RemoteJwks({ url, cooldownMs: 0 });
    await remote.refresh();
    const key = { kind: 'private' as const, key: pair.privateKey, alg: 'RS256', kid: 'r1' };
    const token = await viewerToken(key);
    const state: AuthState = { config: config({ jwksURL: url }), remote, jwtCache: new JwtCache() };
    expect((await decide(mtx({ token }) as never, state)).allow).toBe(true);

    // A new signing key the cached set does not have: denied at once, and a background refresh starts.
    const next = await generateKeyPair('RS256', { extractable: true });
    jwks = { keys: [{ ...(await exportJWK(next.publicKey)), kid: 'r2', alg: 'RS256' }] };
    delayMs = 500;
    const token2 = await viewerToken({ kind: 'private', key: next.privateKey, alg: 'RS256', kid: 'r2' });
    const before = fetches;
    const t0 = performance.now();
    const first = await decide(mtx({ token: token2 }) as never, state);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(first.allow).toBe(false);
    await new Promise((r) => setTimeout(r, 700));
    expect(fetches).toBe(before + 1);
    expect((await decide(mtx({ token: token2 }) as never, state)).allow).toBe(true);

    // The provider goes down: the last good keys stay.
    server.closeAllConnections();
    jwks = 'not json';
    await remote.refresh();
    expect((await decide(mtx({ token: token2 }) as never, { ...state, jwtCache: new JwtCache() })).allow).toBe(true);
    remote.stop();
  });
});
