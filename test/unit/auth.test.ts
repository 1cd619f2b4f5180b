// The sidecar's decisions, through the real fastify pipeline (compiled schema, body limit, error handler), on
// requests shaped exactly like MediaMTX 1.20.1's, with keys generated for this run.
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { base64url } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_TOKEN,
  AUDIENCE,
  HMAC_SECRET,
  ISSUER,
  type Keys,
  keys,
  mtx,
  PATH,
  PREVIOUS_TOKEN,
  PUBLISH_TOKEN,
  sidecar,
  sign,
} from '../support/auth-fixture.ts';

let k: Keys;
let jwtSide: Awaited<ReturnType<typeof sidecar>>;
let publicSide: Awaited<ReturnType<typeof sidecar>>;
let hmacSide: Awaited<ReturnType<typeof sidecar>>;
const logLines: string[] = [];
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  k = await keys();
  jwtSide = await sidecar(k, 'jwt', 'jwks', logLines);
  publicSide = await sidecar(k, 'public', 'jwks', logLines);
  hmacSide = await sidecar(k, 'jwt', 'hmac', logLines);
});
afterAll(async () => {
  for (const s of [jwtSide, publicSide, hmacSide]) {
    s.store.close();
    await s.app.close();
  }
});

type Side = 'jwt' | 'public' | 'hmac';
interface Case {
  title: string;
  side?: Side;
  body: () => Promise<unknown> | unknown;
  status: number;
  /** The reason this very request was decided with (its own metric increment, not any earlier request's). */
  reason: string;
  raw?: { payload: string; contentType?: string };
}

const rs = (claims = {}, opts = {}) => sign(k.rsa.privateKey, 'RS256', claims, { kid: 'rsa-1', ...opts });
const unsigned = (claims: object) =>
  `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url.encode(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, exp: now() + 600, 'vstream.io/paths': [PATH], ...claims }))}.`;
const hsWith = (secret: string, claims: object) => {
  const h = base64url.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const p = base64url.encode(
    JSON.stringify({ iss: ISSUER, aud: AUDIENCE, exp: now() + 600, 'vstream.io/paths': [PATH], ...claims }),
  );
  return `${h}.${p}.${base64url.encode(createHmac('sha256', secret).update(`${h}.${p}`).digest())}`;
};

const CASES: Case[] = [
  // publish: RTMP puts ?token= of the stream key into `token` and `query`
  {
    title: 'rtmp publish, token from the stream key',
    body: () => mtx({ action: 'publish', protocol: 'rtmp', token: PUBLISH_TOKEN, query: `token=${PUBLISH_TOKEN}` }),
    status: 200,
    reason: 'publish_token',
  },
  {
    title: 'rtmp publish, token only in query',
    body: () => mtx({ action: 'publish', protocol: 'rtmp', query: `token=${PUBLISH_TOKEN}` }),
    status: 200,
    reason: 'publish_token',
  },
  {
    title: 'rtmp publish with the previous (rotated) token',
    body: () => mtx({ action: 'publish', protocol: 'rtmp', token: PREVIOUS_TOKEN, query: `token=${PREVIOUS_TOKEN}` }),
    status: 200,
    reason: 'publish_token',
  },
  {
    title: 'rtsp publish, token as password',
    body: () =>
      mtx({ action: 'publish', protocol: 'rtsp', user: 'any', password: PUBLISH_TOKEN, token: PUBLISH_TOKEN }),
    status: 200,
    reason: 'publish_token',
  },
  {
    title: 'srt publish, token as password of the streamid',
    body: () => mtx({ action: 'publish', protocol: 'srt', user: 'x', password: PUBLISH_TOKEN }),
    status: 200,
    reason: 'publish_token',
  },
  {
    title: 'webrtc (WHIP) publish, Bearer token',
    body: () => mtx({ action: 'publish', protocol: 'webrtc', token: PUBLISH_TOKEN }),
    status: 200,
    reason: 'publish_token',
  },
  {
    title: 'publish with a wrong token',
    body: () =>
      mtx({
        action: 'publish',
        protocol: 'rtmp',
        token: 'wrong-token-0123456789',
        query: 'token=wrong-token-0123456789',
      }),
    status: 401,
    reason: 'bad_publish_token',
  },
  {
    title: 'publish without credentials',
    body: () => mtx({ action: 'publish', protocol: 'rtmp' }),
    status: 401,
    reason: 'no_credentials',
  },
  {
    title: 'publish to another path',
    body: () => mtx({ action: 'publish', protocol: 'rtmp', path: 'live/other', token: PUBLISH_TOKEN }),
    status: 403,
    reason: 'wrong_path',
  },
  {
    title: 'publish with a token that differs by a space',
    body: () => mtx({ action: 'publish', protocol: 'rtmp', token: ` ${PUBLISH_TOKEN}` }),
    status: 401,
    reason: 'bad_publish_token',
  },
  {
    title: 'publish with a token prefix',
    body: () => mtx({ action: 'publish', protocol: 'rtmp', token: PUBLISH_TOKEN.slice(0, -1) }),
    status: 401,
    reason: 'bad_publish_token',
  },
  {
    title: 'publish with a viewer JWT',
    body: async () => mtx({ action: 'publish', protocol: 'rtmp', token: await rs() }),
    status: 401,
    reason: 'bad_publish_token',
  },
  // read with a JWT
  { title: 'hls read, Bearer JWT (RS256)', body: async () => mtx({ token: await rs() }), status: 200, reason: 'jwt' },
  {
    title: 'hls read, ?jwt= in query',
    body: async () => mtx({ query: `jwt=${await rs()}` }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'hls read, ?token= in query',
    body: async () => mtx({ query: `a=1&token=${await rs()}` }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'webrtc read, JWT as Basic password',
    body: async () => mtx({ protocol: 'webrtc', user: 'viewer', password: await rs() }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'rtsp read, JWT as password',
    body: async () => mtx({ protocol: 'rtsp', user: 'v', password: await rs(), token: '' }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'srt read, JWT as password',
    body: async () => mtx({ protocol: 'srt', password: await rs() }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'playback (recordings), JWT',
    body: async () => mtx({ action: 'playback', protocol: '', id: null, token: await rs() }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'ES256 key from the same JWKS',
    body: async () => mtx({ token: await sign(k.ec.privateKey, 'ES256', {}, { kid: 'ec-1' }) }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'expired JWT',
    body: async () => mtx({ token: await rs({ exp: now() - 120 }) }),
    status: 401,
    reason: 'jwt_expired',
  },
  {
    title: 'expired within the clock skew',
    body: async () => mtx({ token: await rs({ exp: now() - 10 }) }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'JWT not yet valid',
    body: async () => mtx({ token: await rs({ nbf: now() + 600 }) }),
    status: 401,
    reason: 'jwt_not_yet_valid',
  },
  {
    title: 'JWT from another issuer',
    body: async () => mtx({ token: await rs({ iss: 'https://evil.example' }) }),
    status: 401,
    reason: 'jwt_wrong_issuer',
  },
  {
    title: 'JWT for another audience',
    body: async () => mtx({ token: await rs({ aud: 'other' }) }),
    status: 401,
    reason: 'jwt_wrong_audience',
  },
  {
    title: 'JWT for another stream',
    body: async () => mtx({ token: await rs({ 'vstream.io/paths': ['live/other'] }) }),
    status: 403,
    reason: 'jwt_wrong_path',
  },
  {
    title: 'JWT for all streams ("*")',
    body: async () => mtx({ token: await rs({ 'vstream.io/paths': ['*'] }) }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'mediamtx_permissions, exact path',
    body: async () =>
      mtx({
        token: await rs({ 'vstream.io/paths': undefined, mediamtx_permissions: [{ action: 'read', path: PATH }] }),
      }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'mediamtx_permissions as a JSON string',
    body: async () =>
      mtx({
        token: await rs({
          'vstream.io/paths': undefined,
          mediamtx_permissions: JSON.stringify([{ action: 'read', path: PATH }]),
        }),
      }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'mediamtx_permissions, regexp path',
    body: async () =>
      mtx({
        token: await rs({ 'vstream.io/paths': undefined, mediamtx_permissions: [{ action: 'read', path: '~^live/' }] }),
      }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'mediamtx_permissions, empty path = any',
    body: async () =>
      mtx({ token: await rs({ 'vstream.io/paths': undefined, mediamtx_permissions: [{ action: 'read' }] }) }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'mediamtx_permissions for publish only, used to read',
    body: async () =>
      mtx({
        token: await rs({ 'vstream.io/paths': undefined, mediamtx_permissions: [{ action: 'publish', path: PATH }] }),
      }),
    status: 403,
    reason: 'jwt_wrong_path',
  },
  {
    title: 'JWT with no path claim',
    body: async () => mtx({ token: await rs({ 'vstream.io/paths': undefined }) }),
    status: 403,
    reason: 'jwt_wrong_path',
  },
  {
    title: 'JWT without exp',
    body: async () => mtx({ token: await rs({ exp: undefined }) }),
    status: 401,
    reason: 'jwt_bad_exp',
  },
  { title: 'alg none', body: () => mtx({ token: unsigned({}) }), status: 401, reason: 'jwt_alg_not_allowed' },
  {
    title: 'HS256 signed with the RSA public key (alg confusion)',
    body: () => mtx({ token: hsWith(k.rsaPublicPem, {}) }),
    status: 401,
    reason: 'jwt_alg_not_allowed',
  },
  {
    title: 'signed by a key not in the JWKS',
    body: async () => mtx({ token: await sign(k.other.privateKey, 'RS256', {}, { kid: 'rsa-1' }) }),
    status: 401,
    reason: 'jwt_bad_signature',
  },
  {
    title: 'unknown kid',
    body: async () => mtx({ token: await sign(k.other.privateKey, 'RS256', {}, { kid: 'nope' }) }),
    status: 401,
    reason: 'jwt_unknown_key',
  },
  {
    title: 'tampered payload',
    body: async () => {
      const [h, , s] = (await rs()).split('.');
      return mtx({
        token: `${h}.${base64url.encode(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, exp: now() + 9999, 'vstream.io/paths': ['*'] }))}.${s}`,
      });
    },
    status: 401,
    reason: 'jwt_bad_signature',
  },
  { title: 'garbage instead of a JWT', body: () => mtx({ token: 'not-a-jwt' }), status: 401, reason: 'no_credentials' },
  { title: 'read without credentials (jwt access)', body: () => mtx({}), status: 401, reason: 'no_credentials' },
  {
    title: 'read of another path with a valid JWT',
    body: async () => mtx({ path: 'live/other', token: await rs({ 'vstream.io/paths': ['*'] }) }),
    status: 403,
    reason: 'wrong_path',
  },
  // HMAC-keyed stream
  {
    title: 'HS256 on an HMAC-keyed stream',
    side: 'hmac',
    body: async () => mtx({ token: await sign(new TextEncoder().encode(HMAC_SECRET), 'HS256', {}) }),
    status: 200,
    reason: 'jwt',
  },
  {
    title: 'RS256 on an HMAC-keyed stream',
    side: 'hmac',
    body: async () => mtx({ token: await rs() }),
    status: 401,
    reason: 'jwt_alg_not_allowed',
  },
  {
    title: 'HS256 with the wrong secret',
    side: 'hmac',
    body: () => mtx({ token: hsWith('x'.repeat(40), {}) }),
    status: 401,
    reason: 'jwt_bad_signature',
  },
  // public streams
  { title: 'public read without credentials', side: 'public', body: () => mtx({}), status: 200, reason: 'public' },
  {
    title: 'public read of another path',
    side: 'public',
    body: () => mtx({ path: 'live/other' }),
    status: 403,
    reason: 'wrong_path',
  },
  {
    title: 'public stream still needs the publish token',
    side: 'public',
    body: () => mtx({ action: 'publish', protocol: 'rtmp' }),
    status: 401,
    reason: 'no_credentials',
  },
  // api / metrics / pprof
  {
    title: 'api with the internal token (Bearer)',
    body: () => mtx({ action: 'api', path: '', protocol: '', id: null, token: API_TOKEN }),
    status: 200,
    reason: 'api_token',
  },
  {
    title: 'api with the internal token as password',
    body: () => mtx({ action: 'api', path: '', protocol: '', id: null, user: 'vstream', password: API_TOKEN }),
    status: 200,
    reason: 'api_token',
  },
  {
    title: 'api with the publish token',
    body: () => mtx({ action: 'api', path: '', protocol: '', id: null, token: PUBLISH_TOKEN }),
    status: 401,
    reason: 'bad_api_token',
  },
  {
    title: 'api without credentials',
    body: () => mtx({ action: 'api', path: '', protocol: '', id: null }),
    status: 401,
    reason: 'no_credentials',
  },
  {
    title: 'metrics (Prometheus sends nothing)',
    body: () => mtx({ action: 'metrics', path: '', protocol: '', id: null }),
    status: 200,
    reason: 'metrics_allowed',
  },
  {
    title: 'pprof is never allowed',
    body: () => mtx({ action: 'pprof', path: '', protocol: '', id: null, token: API_TOKEN }),
    status: 403,
    reason: 'pprof_disabled',
  },
  // malformed
  {
    title: 'not JSON',
    body: () => undefined,
    raw: { payload: '{"action":' },
    status: 400,
    reason: 'malformed_request',
  },
  {
    title: 'missing action',
    body: () => {
      const b: Record<string, unknown> = mtx({});
      delete b.action;
      return b;
    },
    status: 400,
    reason: 'malformed_request',
  },
  { title: 'unknown action', body: () => mtx({ action: 'admin' }), status: 400, reason: 'malformed_request' },
  { title: 'unknown protocol', body: () => mtx({ protocol: 'gopher' }), status: 400, reason: 'malformed_request' },
  { title: 'id is a number', body: () => mtx({ id: 5 }), status: 400, reason: 'malformed_request' },
  {
    title: 'oversized body',
    body: () => mtx({ userAgent: 'x'.repeat(40_000) }),
    status: 413,
    reason: 'body_too_large',
  },
  {
    title: 'wrong content type',
    body: () => undefined,
    raw: { payload: 'action=read', contentType: 'application/x-www-form-urlencoded' },
    status: 415,
    reason: 'malformed_request',
  },
  { title: 'a JSON array', body: () => [mtx({})], status: 400, reason: 'malformed_request' },
];

const sides = () => ({ jwt: jwtSide, public: publicSide, hmac: hmacSide });

/** The label sets of the decision counter that `send` incremented, with how much. */
async function decisionsCounted(s: ReturnType<typeof sides>[Side], send: () => Promise<unknown>) {
  const snapshot = async () =>
    new Map((await s.metrics.decisions.get()).values.map((v) => [JSON.stringify(v.labels), v.value]));
  const before = await snapshot();
  await send();
  const after = await snapshot();
  return [...after]
    .filter(([k, v]) => v !== (before.get(k) ?? 0))
    .map(([k, v]) => ({ ...(JSON.parse(k) as Record<string, string>), by: v - (before.get(k) ?? 0) }));
}

describe(`sidecar decisions (${CASES.length} MediaMTX-shaped requests)`, () => {
  it('has at least 40 cases', () => expect(CASES.length).toBeGreaterThanOrEqual(40));
  for (const c of CASES) {
    it(`${c.title}: ${c.status} ${c.reason}`, async () => {
      const s = sides()[c.side ?? 'jwt'];
      const payload = c.raw?.payload ?? JSON.stringify(await c.body());
      let status = 0;
      const counted = await decisionsCounted(s, async () => {
        const res = await s.app.inject({
          method: 'POST',
          url: '/auth',
          payload,
          headers: { 'content-type': c.raw?.contentType ?? 'application/json' },
        });
        status = res.statusCode;
      });
      expect(status).toBe(c.status);
      // Exactly one decision was counted for this request, with this case's reason and the matching result.
      expect(counted).toHaveLength(1);
      expect(counted[0]).toMatchObject({ reason: c.reason, result: c.status < 300 ? 'allow' : 'deny', by: 1 });
    });
  }
});

describe('secret rotation without restart', () => {
  it('picks up a new publish token and keeps the last good keys when a new file is bad', async () => {
    const s = await sidecar(k, 'jwt');
    s.store.watch(60_000);
    const publish = (token: string) =>
      s.app
        .inject({ method: 'POST', url: '/auth', payload: mtx({ action: 'publish', protocol: 'rtmp', token }) })
        .then((r) => r.statusCode);
    const fresh = 'rotated-0123456789abcdefghij';
    expect(await publish(fresh)).toBe(401);
    writeFileSync(join(s.dir, 'publish/token'), `${fresh}\n${PUBLISH_TOKEN}\n`);
    await waitFor(async () => (await publish(fresh)) === 200);
    expect(await publish(PUBLISH_TOKEN)).toBe(200);

    const viewer = await rs();
    const read = () =>
      s.app.inject({ method: 'POST', url: '/auth', payload: mtx({ token: viewer }) }).then((r) => r.statusCode);
    expect(await read()).toBe(200);
    writeFileSync(join(s.dir, 'jwt/keys'), '{"keys": [ broken');
    await waitFor(async () => Boolean(s.store.problems.jwt));
    expect(s.store.problems.jwt).toContain('does not parse');
    expect(await read()).toBe(200);
    s.store.close();
    await s.app.close();
  });
});

async function waitFor(cond: () => Promise<boolean>, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not met');
}

describe('fuzzing the hook', () => {
  it('10 000 random and mutated bodies: no 5xx, no hang, and no allow without a valid credential', async () => {
    const validJwt = await rs();
    const validCreds = new Set([PUBLISH_TOKEN, PREVIOUS_TOKEN, API_TOKEN, validJwt]);
    const field = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom(
        PUBLISH_TOKEN,
        validJwt,
        API_TOKEN,
        `token=${PUBLISH_TOKEN}`,
        `jwt=${validJwt}`,
        PATH,
        'live/other',
        '',
      ),
      fc.integer(),
      fc.constant(null),
      fc.boolean(),
    );
    // Valid MediaMTX requests with some fields replaced by random or adversarial values.
    const base = fc.constantFrom(
      mtx({ action: 'publish', protocol: 'rtmp', token: PUBLISH_TOKEN, query: `token=${PUBLISH_TOKEN}` }),
      mtx({ token: validJwt }),
      mtx({ action: 'api', path: '', protocol: '', id: null, token: API_TOKEN }),
      mtx({ action: 'metrics', path: '', protocol: '', id: null }),
      mtx({}),
    );
    const one = (key: string, value: fc.Arbitrary<unknown>) => value.map((v) => ({ [key]: v }));
    const change = fc.oneof(
      one('ip', fc.oneof(field, fc.constantFrom('10.0.0.1', '::1'))),
      one('user', field),
      one('password', field),
      one('token', field),
      one('action', fc.oneof(fc.constantFrom('publish', 'read', 'playback', 'api', 'pprof', 'metrics'), field)),
      one('path', fc.oneof(fc.constant(PATH), field)),
      one('protocol', fc.oneof(fc.constantFrom('rtmp', 'rtsp', 'hls', 'webrtc', 'srt', ''), field)),
      one('id', fc.oneof(field, fc.constant(null))),
      one('query', field),
    );
    const override = fc.array(change, { maxLength: 3 }).map((cs) => Object.assign({}, ...cs));
    const mutated = fc.tuple(base, override).map(([b, o]) => ({ ...b, ...o }));
    const bodies = fc.oneof(
      { weight: 6, arbitrary: mutated.map((b) => JSON.stringify(b)) },
      { weight: 1, arbitrary: fc.json() },
      { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    );
    let allows = 0;
    const wrongAllows: string[] = [];
    const samples = fc.sample(bodies, 10_000);
    for (const payload of samples) {
      const res = await jwtSide.app.inject({
        method: 'POST',
        url: '/auth',
        payload,
        headers: { 'content-type': 'application/json' },
      });
      expect(res.statusCode).toBeLessThan(500);
      if (res.statusCode >= 200 && res.statusCode < 300) {
        allows++;
        const b = JSON.parse(payload) as Record<string, unknown>;
        const creds = [
          b.token,
          b.password,
          ...new URLSearchParams(typeof b.query === 'string' ? b.query : '').values(),
        ];
        const hasValid = creds.some((c) => typeof c === 'string' && validCreds.has(c));
        const legit = b.action === 'metrics' || (hasValid && (b.action === 'api' || b.path === PATH));
        if (!legit) wrongAllows.push(payload);
      }
    }
    expect(samples.length).toBe(10_000);
    expect(wrongAllows).toEqual([]);
    // the oracle was exercised on both sides
    expect(allows).toBeGreaterThan(500);
    expect(allows).toBeLessThan(9_000);
    console.log(`[fuzz] 10000 bodies, ${allows} allowed, 0 wrong allows`);
  });
});

describe('logs', () => {
  it('never contain a token, password, JWT or secret used in these tests', () => {
    expect(logLines.length).toBeGreaterThan(50);
    const text = logLines.join('\n');
    for (const secret of [PUBLISH_TOKEN, PREVIOUS_TOKEN, API_TOKEN, HMAC_SECRET]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/eyJ[\w-]{10,}\.[\w-]{10,}/);
  });
});
