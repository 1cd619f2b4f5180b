// Benchmark of the auth sidecar's hook: requests/s and latency of (a) publish-token decisions and (b) JWT read
// decisions against (c) a bare fastify route returning 200, all on this machine with the same load tool
// (autocannon), connections and duration, in one run. Writes bench/results/auth.json.
//   npm run bench:auth [-- --seconds 10]
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Pool } from 'undici';
import { mediamtxRequest } from '../src/auth/request.ts';
import { freePort } from '../src/dev/cluster.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '8' }, connections: { type: 'string', default: '16' } },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const PATH = 'live/bench';
const PUBLISH = 'bench-publish-token-0123456789abcdef';

const dir = mkdtempSync(join(tmpdir(), 'vstream-bench-auth-'));
for (const d of ['publish', 'internal', 'jwt']) mkdirSync(join(dir, d));
const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
writeFileSync(join(dir, 'publish/token'), `${PUBLISH}\n`);
writeFileSync(join(dir, 'internal/api-token'), 'bench-api-token-0123456789abcdef');
writeFileSync(
  join(dir, 'jwt/jwks.json'),
  JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }] }),
);
const config = join(dir, 'auth.json');
writeFileSync(
  config,
  JSON.stringify({
    path: PATH,
    publish: { tokenFile: join(dir, 'publish/token') },
    read: {
      access: 'jwt',
      jwt: {
        issuer: 'https://id.bench',
        audience: 'vstream',
        clockSkewSeconds: 30,
        keysFile: join(dir, 'jwt/jwks.json'),
      },
    },
    api: { tokenFile: join(dir, 'internal/api-token') },
    metrics: { allow: true },
  }),
);

// More distinct viewer tokens than the sidecar's verified-token cache holds (10 000), so every decision pays for a
// real RS256 signature check, as a new viewer does.
const TOKENS = 12_000;
const now = Math.floor(Date.now() / 1000);
const tokens: string[] = [];
for (let i = 0; i < TOKENS; i++) {
  tokens.push(
    await new SignJWT({ 'vstream.io/paths': [PATH] })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer('https://id.bench')
      .setAudience('vstream')
      .setSubject(`viewer-${i}`)
      .setExpirationTime(now + 3600)
      .sign(privateKey),
  );
}

const body = (fields: Record<string, unknown>) =>
  JSON.stringify(mediamtxRequest({ path: PATH, ip: '10.0.0.9', userAgent: 'bench', ...fields }));
const headers = { 'content-type': 'application/json' };
const publishReq = [
  {
    method: 'POST' as const,
    path: '/auth',
    headers,
    body: body({ action: 'publish', protocol: 'rtmp', token: PUBLISH, query: `token=${PUBLISH}` }),
  },
];
const jwtReqs = tokens.map((t) => ({ method: 'POST' as const, path: '/auth', headers, body: body({ token: t }) }));

async function server(mode: 'sidecar' | 'bare') {
  const port = await freePort();
  const child = fork(join(import.meta.dirname, 'auth-server.ts'), [mode, config, String(port)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await new Promise((r) => child.once('message', r));
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

async function load(
  url: string,
  requests: { method: 'POST'; path: string; headers: Record<string, string>; body: string }[],
  opts: { overallRate?: number; expect200?: boolean } = {},
) {
  const r = await autocannon({
    url,
    connections,
    duration: seconds,
    requests,
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
  });
  const ok = r['2xx'];
  if (opts.expect200 !== false && r.non2xx > 0)
    throw new Error(`${r.non2xx} non-2xx answers from ${url}: the benchmark would measure denials`);
  return { rps: Math.round(ok / seconds), p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts };
}

/**
 * Fixed-rate load with exact per-request latency (autocannon's histogram has 1 ms resolution and, with
 * overallRate, counts its own scheduling delay): `rate` requests/s spread evenly, each timed from send to answer.
 */
async function fixedRate(url: string, requests: { body: string }[], rate: number, secs: number) {
  const pool = new Pool(url, { connections: 256 });
  const lat: number[] = [];
  let i = 0;
  let non2xx = 0;
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  const total = rate * secs;
  for (let n = 0; n < total; n++) {
    const due = start + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const body = requests[i++ % requests.length]!.body;
    const t0 = performance.now();
    inflight.push(
      pool.request({ method: 'POST', path: '/auth', headers, body }).then(async (res) => {
        await res.body.dump();
        if (res.statusCode !== 200) non2xx++;
        lat.push(performance.now() - t0);
      }),
    );
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  await pool.close();
  lat.sort((a, b) => a - b);
  const q = (p: number) => Number(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(3));
  return { achieved_rps: Math.round(lat.length / elapsed), p50: q(0.5), p99: q(0.99), max: q(1), non2xx };
}

const bare = await server('bare');
const side = await server('sidecar');
try {
  // Warm both (JIT, connection setup) before measuring.
  await autocannon({ url: bare.url, connections, duration: 2, requests: publishReq });
  await autocannon({ url: side.url, connections, duration: 2, requests: publishReq });
  const baseline = await load(bare.url, publishReq);
  const publish = await load(side.url, publishReq);
  const jwt = await load(side.url, jwtReqs);
  // 1 000 viewers re-authenticating: their verified tokens are in the sidecar's cache.
  const jwtCached = await load(side.url, jwtReqs.slice(0, 1000));
  await fixedRate(side.url, jwtReqs, 2000, 1); // warm-up at the target rate, discarded
  // The same fixed-rate client against the bare route: what the client and the machine add on their own.
  const bareAt2k = await fixedRate(bare.url, jwtReqs, 2000, seconds);
  const at2k = await fixedRate(side.url, jwtReqs, 2000, seconds);
  const publishAt2k = await fixedRate(side.url, publishReq, 2000, seconds);
  const result = {
    streams: undefined,
    publish_rps: publish.rps,
    jwt_rps: jwt.rps,
    baseline_rps: baseline.rps,
    publish_ratio: Number((publish.rps / baseline.rps).toFixed(3)),
    jwt_ratio: Number((jwt.rps / baseline.rps).toFixed(3)),
    p99_ms_at_2k: at2k.p99,
    detail: {
      seconds,
      connections,
      load_tool: 'autocannon (keep-alive; MediaMTX itself opens a new connection per auth call)',
      jwt: 'RS256, 12000 distinct tokens (no cache hits)',
      baseline_latency_ms: { p50: baseline.p50, p99: baseline.p99 },
      publish_latency_ms: { p50: publish.p50, p99: publish.p99 },
      jwt_latency_ms: { p50: jwt.p50, p99: jwt.p99 },
      jwt_cached: {
        rps: jwtCached.rps,
        ratio: Number((jwtCached.rps / baseline.rps).toFixed(3)),
        p99_ms: jwtCached.p99,
      },
      fixed_rate_client: 'undici Pool, 256 connections, exact per-request latency from send to answer',
      jwt_at_2k_rps: at2k,
      baseline_at_2k_rps: bareAt2k,
      publish_at_2k_rps: publishAt2k,
    },
  };
  delete (result as { streams?: unknown }).streams;
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(join(import.meta.dirname, 'results/auth.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
} finally {
  bare.stop();
  side.stop();
}
