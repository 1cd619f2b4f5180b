// auth.json is one contract with one schema: what the renderer writes, the sidecar accepts; what the sidecar refuses,
// it names by field; a bad reload keeps the last good config.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveSpec } from '../../src/api/livestream.ts';
import { parseAuthConfig } from '../../src/auth/config.ts';
import { AuthConfigSchema, AuthRequestSchema } from '../../src/auth/contract.ts';
import { mediamtxRequest } from '../../src/auth/request.ts';
import { authConfig } from '../../src/render/mediamtx-config.ts';
import { AUTH_FILE, renderStream } from '../../src/render/objects.ts';
import { keys, mtx, PUBLISH_TOKEN, sidecar } from '../support/auth-fixture.ts';
import { examples } from './examples.ts';

describe('the renderer writes what the sidecar reads', () => {
  it('every example LiveStream renders an auth.json the sidecar accepts, unchanged', () => {
    const all = examples();
    expect(all.length).toBeGreaterThan(3);
    for (const { file, stream } of all) {
      const r = renderStream(stream, { sidecarImage: 'vstream:test' });
      const text = (r.configMap.data as Record<string, string>)[AUTH_FILE]!;
      expect(parseAuthConfig(text), file).toEqual(r.auth);
    }
  });

  it('so do JWT variants the examples do not cover (remote JWKS, algorithm lists, HMAC key names)', () => {
    const variants = [
      { issuer: 'https://id.example', jwksURL: 'https://id.example/jwks.json' },
      { issuer: 'https://id.example', jwksURL: 'https://id.example/jwks', algorithms: ['ES256', 'RS256'] },
      { issuer: 'i', audience: 'a', keysSecretRef: { name: 'k', key: 'hmac' }, algorithms: ['HS256'], clockSkew: '5m' },
    ];
    for (const jwt of variants) {
      const spec = resolveSpec('s', {
        ingest: { protocols: ['rtmp'] },
        playback: { protocols: ['hls'], access: 'jwt', jwt },
      } as never);
      const config = authConfig(spec, 'token');
      expect(Value.Errors(AuthConfigSchema, config).First(), JSON.stringify(jwt)).toBeUndefined();
      expect(parseAuthConfig(JSON.stringify(config))).toEqual(config);
    }
  });

  it('MediaMTX-shaped requests match the hook schema', () => {
    expect(Value.Check(AuthRequestSchema, mediamtxRequest())).toBe(true);
    expect(Value.Check(AuthRequestSchema, mediamtxRequest({ id: null, token: undefined }))).toBe(true);
    expect(Value.Check(AuthRequestSchema, mediamtxRequest({ action: 'admin' }))).toBe(false);
  });
});

describe('a bad auth.json is an error naming the field', () => {
  const good = () => ({
    path: 'live/s',
    publish: { tokenFile: '/p' },
    read: { access: 'jwt', jwt: { issuer: 'i', audience: 'a', clockSkewSeconds: 30, keysFile: '/k' } },
    api: { tokenFile: '/a' },
    metrics: { allow: true },
  });
  const error = (mutate: (c: any) => void) => {
    const c = good();
    mutate(c);
    try {
      parseAuthConfig(JSON.stringify(c));
    } catch (e) {
      return (e as Error).message;
    }
    return 'accepted';
  };

  it('names missing, mistyped, unknown and out-of-range fields', () => {
    expect(parseAuthConfig(JSON.stringify(good()))).toEqual(good());
    expect(error((c) => delete c.read.jwt.issuer)).toBe('auth config: /read/jwt/issuer: Expected required property');
    expect(error((c) => (c.metrics.allow = 'yes'))).toBe('auth config: /metrics/allow: Expected boolean');
    expect(error((c) => (c.read.jwt.isuer = 'typo'))).toBe('auth config: /read/jwt/isuer: Unexpected property');
    expect(error((c) => (c.read.access = 'open'))).toBe('auth config: /read/access: Expected one of public, jwt');
    expect(error((c) => (c.read.jwt.clockSkewSeconds = 3600))).toMatch(/^auth config: \/read\/jwt\/clockSkewSeconds: /);
    expect(error((c) => (c.publish.tokenFile = ''))).toMatch(/^auth config: \/publish\/tokenFile: /);
    expect(error((c) => (c.read.jwt.jwksURL = 'ftp://x'))).toMatch(/^auth config: \/read\/jwt\/jwksURL: /);
    expect(error((c) => delete c.read.jwt)).toBe('auth config: /read/jwt: required when /read/access is jwt');
    expect(error((c) => delete c.read.jwt.keysFile)).toBe('auth config: /read/jwt: needs keysFile or jwksURL');
    expect(() => parseAuthConfig('{"path":')).toThrow(/^auth config is not JSON/);
    expect(() => parseAuthConfig('[]')).toThrow(/^auth config: \/: Expected object/);
  });
});

describe('reloading auth.json', () => {
  let s: Awaited<ReturnType<typeof sidecar>>;
  let configFile = '';
  beforeAll(async () => {
    s = await sidecar(await keys(), 'public');
    configFile = join(s.dir, 'config/auth.json');
  });
  afterAll(async () => {
    s.store.close();
    await s.app.close();
  });
  const read = (path = 'live/s') =>
    s.app.inject({ method: 'POST', url: '/auth', payload: mtx({ path }) }).then((r) => r.statusCode);

  it('keeps the last good config when the new one is bad, and says which field', async () => {
    const original = readFileSync(configFile, 'utf8');
    expect(await read()).toBe(200);
    const bad = JSON.parse(original);
    bad.read.access = 'everyone';
    bad.path = 'live/other';
    writeFileSync(configFile, JSON.stringify(bad));
    s.store.reload();
    expect(s.store.problems.config).toBe('auth config: /read/access: Expected one of public, jwt');
    expect(s.store.state.config.path).toBe('live/s');
    expect(await read()).toBe(200);
    expect(await read('live/other')).toBe(403);
    // A good config is applied, and the problem is gone.
    writeFileSync(configFile, JSON.stringify({ ...JSON.parse(original), path: 'live/other' }));
    s.store.reload();
    expect(s.store.problems.config).toBeUndefined();
    expect(await read('live/other')).toBe(200);
    expect(await read()).toBe(403);
    const publish = await s.app.inject({
      method: 'POST',
      url: '/auth',
      payload: mtx({ action: 'publish', path: 'live/other', token: PUBLISH_TOKEN }),
    });
    expect(publish.statusCode).toBe(200);
  });

  it('refuses to start on a bad file, naming the field', async () => {
    const k = await keys();
    const t = await sidecar(k, 'public');
    const file = join(t.dir, 'config/auth.json');
    const c = JSON.parse(readFileSync(file, 'utf8'));
    delete c.api;
    writeFileSync(file, JSON.stringify(c));
    const { AuthStateStore } = await import('../../src/auth/state.ts');
    await expect(new AuthStateStore(file, t.log).init()).rejects.toThrow(
      'auth config: /api: Expected required property',
    );
    t.store.close();
    await t.app.close();
  });
});
