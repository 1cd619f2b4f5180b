// kubectl vstream against a fake API server on 127.0.0.1 (a mock, named as such) that enforces RBAC by bearer
// token the way the real one answers: an editor may read Secrets, a viewer gets 403. The plugin prints a token only
// when the API server handed it over to the user whose kubeconfig it runs with.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeStatus } from '../../src/plugin/commands.ts';
import { runPlugin } from '../../src/plugin/main.ts';
import { generateViewerKeys } from '../../src/token/viewer.ts';
import { fakeApiServer, kubeconfigYaml } from './fake-apiserver.ts';

const PUBLISH = 'pUbLiShToKeN-0123456789abcdef';
const API_TOKEN = 'internal-api-token-abcdef';
const LS = '/apis/vstream.io/v1alpha1/namespaces/events/livestreams';
const ls = (phase = 'Live', viewers = 3) => ({
  apiVersion: 'vstream.io/v1alpha1',
  kind: 'LiveStream',
  metadata: { name: 'keynote', namespace: 'events', generation: 2, resourceVersion: '10' },
  spec: {
    ingest: { protocols: ['rtmp', 'srt', 'webrtc'] },
    playback: {
      protocols: ['hls'],
      access: 'jwt',
      jwt: { issuer: 'https://id.example.com', keysSecretRef: { name: 'k' } },
    },
    recording: { enabled: true },
  },
  status: {
    observedGeneration: 2,
    phase,
    live: phase === 'Live',
    viewers,
    path: 'live/keynote',
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Available',
        message: 'MediaMTX is running.',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
      {
        type: 'Live',
        status: 'True',
        reason: 'PublisherOnline',
        message: 'A publisher is streaming.',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ],
    ingest: {
      rtmp: { server: 'rtmp://203.0.113.7:1935/live', streamKey: 'keynote' },
      srt: 'srt://203.0.113.7:8890?streamid=publish:live/keynote',
      webrtc: 'http://203.0.113.7:8889/live/keynote/whip',
      publishTokenSecretRef: { name: 'keynote-publish', key: 'token' },
    },
    playback: { hls: 'http://203.0.113.7:8888/live/keynote/index.m3u8' },
    recording: {
      claimName: 'keynote-recordings',
      playbackURL: 'http://203.0.113.7:9996',
      oldest: '2026-01-01T10:00:00Z',
      newest: '2026-01-01T12:30:00Z',
    },
  },
});
const secret = (value: string) =>
  JSON.stringify({
    kind: 'Secret',
    data: {
      [value === API_TOKEN ? 'api-token' : 'token']: Buffer.from(`${value}\nprevious-token\n`).toString('base64'),
    },
  });
const forbidden = (what: string) =>
  JSON.stringify({
    kind: 'Status',
    status: 'Failure',
    reason: 'Forbidden',
    code: 403,
    message: `${what} is forbidden: User "bob" cannot get resource`,
  });

let api: Awaited<ReturnType<typeof fakeApiServer>>;
let mediamtx: ReturnType<typeof createServer>;
let mediamtxUrl = '';
const dir = mkdtempSync(join(tmpdir(), 'vstream-plugin-'));
const cfg = (user: 'alice' | 'bob', namespace?: string) => {
  const f = join(dir, `${user}-${namespace ?? 'none'}`);
  const doc = JSON.parse(kubeconfigYaml(api.url, { token: `${user}-token` }));
  if (namespace) doc.contexts[0].context.namespace = namespace;
  writeFileSync(f, JSON.stringify(doc));
  return f;
};
let watchRequests = 0;

beforeAll(async () => {
  api = await fakeApiServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const user = String(req.headers.authorization).replace('Bearer ', '').replace('-token', '');
    if (url.pathname === `${LS}/keynote`) return void res.end(JSON.stringify(ls()));
    if (url.pathname === `${LS}/missing`)
      return void res.writeHead(404).end(JSON.stringify({ kind: 'Status', reason: 'NotFound', code: 404 }));
    if (url.pathname === LS && url.searchParams.get('watch') === 'true') {
      watchRequests++;
      res.writeHead(200);
      if (watchRequests > 1) return; // held open
      res.write(
        `${JSON.stringify({ type: 'MODIFIED', object: { ...ls('Ready', 0), metadata: { ...ls().metadata, resourceVersion: '11' } } })}\n`,
      );
      res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '12' } } })}\n`);
      return void res.end();
    }
    const m = /^\/api\/v1\/namespaces\/events\/secrets\/(.+)$/.exec(url.pathname);
    if (m) {
      if (user !== 'alice') return void res.writeHead(403).end(forbidden(`secrets "${m[1]}"`));
      if (m[1] === 'keynote-publish') return void res.end(secret(PUBLISH));
      if (m[1] === 'keynote-internal') return void res.end(secret(API_TOKEN));
    }
    res.writeHead(404).end('{}');
  });
  mediamtx = createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${API_TOKEN}`) return void res.writeHead(401).end();
    if (req.url !== '/v3/recordings/get/live/keynote') return void res.writeHead(404).end();
    res.end(
      JSON.stringify({
        name: 'live/keynote',
        segments: [
          { start: '2026-01-01T10:00:00Z' },
          { start: '2026-01-01T11:00:00Z' },
          { start: '2026-01-01T12:00:00Z' },
        ],
      }),
    );
  });
  await new Promise<void>((r) => mediamtx.listen(0, '127.0.0.1', r));
  mediamtxUrl = `http://127.0.0.1:${(mediamtx.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await api.close();
  mediamtx.close();
});

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  let closed = 0;
  const code = await runPlugin(argv, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    openApi: async () => ({ base: mediamtxUrl, close: async () => void closed++ }),
    env: {},
  });
  return { code, out: out.join('\n'), err: err.join('\n'), closed };
}

describe('kubectl vstream obs', () => {
  it("prints OBS's Server and Stream Key with the token, for a user who may read the Secret", async () => {
    const r = await run('obs', 'keynote', '-n', 'events', '--kubeconfig', cfg('alice'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Server       rtmp://203.0.113.7:1935/live');
    expect(r.out).toContain(`Stream Key   keynote?token=${PUBLISH}`);
    expect(r.out).not.toContain('previous-token'); // the current token only
    // Every request carried the kubeconfig's credentials.
    expect(
      api.seen.every(
        (q) => q.headers.authorization === 'Bearer alice-token' || q.headers.authorization === 'Bearer bob-token',
      ),
    ).toBe(true);
  });

  it('prints the WHIP URL and Bearer token, and the SRT URL with the token in the stream id', async () => {
    const whip = await run('obs', 'keynote', '-n', 'events', '--protocol', 'webrtc', '--kubeconfig', cfg('alice'));
    expect(whip.out).toContain('Server         http://203.0.113.7:8889/live/keynote/whip');
    expect(whip.out).toContain(`Bearer Token   ${PUBLISH}`);
    const srt = await run('obs', 'keynote', '-n', 'events', '--protocol', 'srt', '--kubeconfig', cfg('alice'));
    expect(srt.out).toContain(`srt://203.0.113.7:8890?streamid=publish:live/keynote:publisher:${PUBLISH}`);
  });

  it('prints no token to a user who may not read the Secret, and says how to check', async () => {
    const r = await run('obs', 'keynote', '-n', 'events', '--kubeconfig', cfg('bob'));
    expect(r.code).toBe(1);
    expect(`${r.out}${r.err}`).not.toContain(PUBLISH);
    expect(r.out).toBe('');
    expect(r.err).toContain('you may not read Secret events/keynote-publish');
    expect(r.err).toContain('kubectl auth can-i get secret/keynote-publish -n events');
  });

  it("uses the context's namespace when -n is not given, and names a missing stream", async () => {
    expect((await run('obs', 'keynote', '--kubeconfig', cfg('alice', 'events'))).code).toBe(0);
    const r = await run('obs', 'missing', '-n', 'events', '--kubeconfig', cfg('alice'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('LiveStream events/missing not found');
  });
});

describe('kubectl vstream status', () => {
  it('shows phase, live, viewers, conditions and endpoints, never a token', async () => {
    const r = await run('status', 'keynote', '-n', 'events', '--kubeconfig', cfg('bob'));
    expect(r.code).toBe(0);
    expect(r.out).toContain('LiveStream events/keynote   phase Live   live yes   viewers 3');
    expect(r.out).toMatch(/Ready\s+True\s+Available/);
    expect(r.out).toContain('rtmp    rtmp://203.0.113.7:1935/live   stream key keynote?token=<token>');
    expect(r.out).toContain('hls     http://203.0.113.7:8888/live/keynote/index.m3u8');
    expect(r.out).not.toContain(PUBLISH);
  });

  it('--watch prints again on every change until interrupted', async () => {
    const ac = new AbortController();
    const out: string[] = [];
    const done = runPlugin(['status', 'keynote', '-n', 'events', '-w', '--kubeconfig', cfg('bob')], {
      out: (l) => out.push(l),
      err: (l) => out.push(`ERR ${l}`),
      signal: ac.signal,
      env: {},
    });
    const deadline = Date.now() + 5000;
    while (watchRequests < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    expect(await done).toBe(0);
    const text = out.join('\n');
    expect(text).toContain('phase Live   live yes   viewers 3');
    expect(text).toContain('phase Ready   live no   viewers 0');
    // The second watch resumed from the bookmark's resourceVersion.
    const watches = api.seen.filter((q) => q.url.includes('watch=true'));
    expect(new URL(watches.at(-1)!.url, 'http://x').searchParams.get('resourceVersion')).toBe('12');
  });

  it('says when the spec has not been observed yet', () => {
    const x = ls();
    x.metadata.generation = 3;
    expect(describeStatus(x as never)[0]).toContain('spec generation 3 not yet observed: 2');
  });
});

describe('kubectl vstream token viewer', () => {
  it("signs a viewer JWT for the stream's path, issuer and audience with the user's key", async () => {
    const { privateJwk, jwks } = await generateViewerKeys('ES256');
    const key = join(dir, 'viewer.jwk.json');
    writeFileSync(key, JSON.stringify(privateJwk));
    const r = await run(
      'token',
      'viewer',
      'keynote',
      '-n',
      'events',
      '--key',
      key,
      '--ttl',
      '10m',
      '--kubeconfig',
      cfg('bob'),
    );
    expect(r.err).toBe('');
    const token = r.out.split('\n')[0]!;
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks as never), {
      issuer: 'https://id.example.com',
      audience: 'vstream',
    });
    expect(payload['vstream.io/paths']).toEqual(['live/keynote']);
    expect(payload.exp! - payload.iat!).toBe(600);
    expect(r.out).toContain(`index.m3u8?jwt=${token}`);
  });
});

describe('kubectl vstream recordings list', () => {
  it("lists the segments from the stream's MediaMTX API with the API token the user may read", async () => {
    const r = await run('recordings', 'list', 'keynote', '-n', 'events', '--kubeconfig', cfg('alice'));
    expect(r.err).toBe('');
    expect(r.out).toMatch(/2026-01-01T10:00:00Z\s+3600s/);
    expect(r.out).toMatch(/2026-01-01T12:00:00Z\s+recording/);
    expect(r.out).toContain('3 segment(s) in PersistentVolumeClaim keynote-recordings');
    expect(r.out).not.toContain(API_TOKEN);
    expect(r.closed).toBe(1);
  });

  it('does not open a tunnel for a user who may not read the API token', async () => {
    const r = await run('recordings', 'list', 'keynote', '-n', 'events', '--kubeconfig', cfg('bob'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('you may not read Secret events/keynote-internal');
    expect(r.closed).toBe(0);
  });
});

describe('kubectl vstream recordings url', () => {
  it('prints a playable range URL with a fresh viewer token signed with --key', async () => {
    const { privateJwk, jwks } = await generateViewerKeys('ES256');
    const key = join(dir, 'viewer-rec.jwk.json');
    writeFileSync(key, JSON.stringify(privateJwk));
    const r = await run(
      'recordings',
      'url',
      'keynote',
      '-n',
      'events',
      '--start',
      '2026-01-01T11:00:00Z',
      '--duration',
      '10m',
      '--key',
      key,
      '--kubeconfig',
      cfg('bob'),
    );
    expect(r.err).toBe('');
    const url = new URL(r.out.split('\n')[0]!);
    expect(`${url.origin}${url.pathname}`).toBe('http://203.0.113.7:9996/get');
    expect(url.searchParams.get('path')).toBe('live/keynote');
    expect(url.searchParams.get('start')).toBe('2026-01-01T11:00:00.000Z');
    expect(url.searchParams.get('duration')).toBe('600');
    const { payload } = await jwtVerify(url.searchParams.get('jwt')!, createLocalJWKSet(jwks as never), {
      issuer: 'https://id.example.com',
      audience: 'vstream',
    });
    expect(payload['vstream.io/paths']).toEqual(['live/keynote']);
  });

  it('starts at the oldest recording by default, and needs --key for a jwt stream', async () => {
    const r = await run('recordings', 'url', 'keynote', '-n', 'events', '--kubeconfig', cfg('bob'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('--key FILE is required');
    const bad = await run(
      'recordings',
      'url',
      'keynote',
      '-n',
      'events',
      '--start',
      'yesterday',
      '--kubeconfig',
      cfg('bob'),
    );
    expect(bad.err).toContain('--start must be an RFC 3339 time');
  });
});

describe('kubectl vstream usage', () => {
  it('explains itself and rejects unknown commands and flags', async () => {
    expect((await run('--help')).out).toContain('obs <stream>');
    expect((await run('frobnicate', 'x')).code).toBe(2);
    expect((await run('obs', 'keynote', '--bogus')).code).toBe(2);
    expect((await run('obs')).err).toContain('give exactly one stream name');
  });
});
