// Benchmark of the auth sidecar's hook: requests/s, latency and CPU per decision of (a) publish-token decisions and
// (b) JWT read decisions against (c) a bare fastify route returning 200, on this machine, with one load client, in
// one run. Writes bench/results/auth.json.
//   npm run bench:auth [-- --seconds 3 --rounds 5]
//
// This machine's speed drifts from minute to minute, so nothing is measured once: each round runs the baseline and
// the sidecar phases back to back, a ratio is taken within its round, and the median over the rounds is reported
// (with the lowest and highest).
//
// The load client (tools/authload, Go) calls the hook exactly as MediaMTX 1.20.1 does: Go net/http, a new
// connection per call. That is the headline. The same client over keep-alive connections is reported beside it
// (`keepalive`): it strips connection setup from every request and so shows the decision's own cost at its largest.
import { execFileSync, fork } from 'node:child_process';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type CryptoKey,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  type JSONWebKeySet,
  jwtVerify,
  SignJWT,
} from 'jose';
import { freePort } from '../dev/cluster.ts';
import { REPO_ROOT, toolPath } from '../dev/tools.ts';
import { mediamtxRequest } from '../src/auth/request.ts';
import { SIDECAR_NODE_FLAGS } from '../src/render/objects.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    tokens: { type: 'string', default: '12000' },
    // Node flags of the sidecar process; by default the ones the renderer sets (SIDECAR_NODE_FLAGS).
    'node-flags': { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const nodeFlags = values['node-flags']?.split(/\s+/).filter(Boolean) ?? [...SIDECAR_NODE_FLAGS];
const PATH = 'live/bench';
const PUBLISH = 'bench-publish-token-0123456789abcdef';
execFileSync('bash', [join(import.meta.dirname, '../tools/build.sh'), 'authload'], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
// The servers run as compiled JavaScript, as the image runs the sidecar: Node strips TypeScript with a WebAssembly
// build of swc, which --jitless and --lite-mode take away, so flags like those could not be measured from sources.
execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', join(REPO_ROOT, 'tsconfig.bench.json')], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
const SERVER_JS = join(REPO_ROOT, 'dist/bench/auth-server.js');
const authload = toolPath('authload');

const dir = mkdtempSync(join(tmpdir(), 'vstream-bench-auth-'));
for (const d of ['publish', 'internal', 'jwt']) mkdirSync(join(dir, d));
const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
writeFileSync(join(dir, 'publish/token'), `${PUBLISH}\n`);
writeFileSync(join(dir, 'internal/api-token'), 'bench-api-token-0123456789abcdef');
writeFileSync(
  join(dir, 'jwt/jwks.json'),
  JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }] }),
);
const HMAC_SECRET = 'bench-hmac-secret-0123456789abcdef-0123456789';
writeFileSync(join(dir, 'jwt/hmac'), HMAC_SECRET);
/** The sidecar's auth.json with viewer keys from `keysFile` (a JWKS or an HMAC secret). */
function sidecarConfig(name: string, keysFile: string) {
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      path: PATH,
      publish: { tokenFile: join(dir, 'publish/token') },
      read: {
        access: 'jwt',
        jwt: { issuer: 'https://id.bench', audience: 'vstream', clockSkewSeconds: 30, keysFile },
      },
      api: { tokenFile: join(dir, 'internal/api-token') },
      metrics: { allow: true },
    }),
  );
  return file;
}
const RS256_CONFIG = sidecarConfig('auth-rs256', join(dir, 'jwt/jwks.json'));
const HS256_CONFIG = sidecarConfig('auth-hs256', join(dir, 'jwt/hmac'));

// More distinct viewer tokens than the sidecar's verified-token cache holds (10 000, least recently used out first):
// the load client hands each request the next token of one shared counter, so a token comes back only after 11 999
// others have pushed it out of the cache, and every decision pays for a real signature check, as a new viewer does.
const TOKENS = Number(values.tokens);
const now = Math.floor(Date.now() / 1000);
const viewerTokens = async (alg: 'RS256' | 'HS256', key: CryptoKey | Uint8Array) => {
  const out: string[] = [];
  for (let i = 0; i < TOKENS; i++) {
    out.push(
      await new SignJWT({ 'vstream.io/paths': [PATH] })
        .setProtectedHeader({ alg, ...(alg === 'RS256' ? { kid: 'k1' } : {}) })
        .setIssuer('https://id.bench')
        .setAudience('vstream')
        .setSubject(`viewer-${i}`)
        .setExpirationTime(now + 3600)
        .sign(key),
    );
  }
  return out;
};
const tokens = await viewerTokens('RS256', privateKey);

/**
 * The floor: what checking one of these tokens costs with nothing around it, in this process, one at a time:
 * node:crypto's RSA-SHA256 verify of the signing input (what any JWT library must do at least), and jose's
 * jwtVerify of the same token (parsing, claims, WebCrypto). µs per token, median of 5 passes over 2 000 tokens.
 */
async function verifyFloor() {
  const key = createPublicKey({ key: (await exportJWK(publicKey)) as never, format: 'jwk' });
  const sample = tokens.slice(0, 2000).map((t) => {
    const i = t.lastIndexOf('.');
    return { input: Buffer.from(t.slice(0, i)), sig: Buffer.from(t.slice(i + 1), 'base64url'), token: t };
  });
  const local = createLocalJWKSet(JSON.parse(readFileSync(join(dir, 'jwt/jwks.json'), 'utf8')) as JSONWebKeySet);
  const pass = async (f: (x: (typeof sample)[number]) => unknown) => {
    const t0 = performance.now();
    for (const x of sample) await f(x);
    return ((performance.now() - t0) * 1000) / sample.length;
  };
  const crypto: number[] = [];
  const jose: number[] = [];
  for (let i = 0; i < 6; i++) {
    crypto.push(
      await pass((x) => {
        if (!cryptoVerify('sha256', x.input, key, x.sig)) throw new Error('floor: a token did not verify');
      }),
    );
    jose.push(await pass((x) => jwtVerify(x.token, local, { issuer: 'https://id.bench', audience: 'vstream' })));
  }
  // The first pass warms up (JIT, key caches) and is dropped.
  const med = (xs: number[]) => Number(median(xs.slice(1)).toFixed(1));
  return { crypto_verify_us: med(crypto), jose_jwt_verify_us: med(jose) };
}
const hsTokens = await viewerTokens('HS256', new TextEncoder().encode(HMAC_SECRET));
const body = (fields: Record<string, unknown>) =>
  JSON.stringify(mediamtxRequest({ path: PATH, ip: '10.0.0.9', userAgent: 'bench', ...fields }));
const bodiesFile = (name: string, lines: string[]) => {
  const f = join(dir, `${name}.jsonl`);
  writeFileSync(f, `${lines.join('\n')}\n`);
  return f;
};
const PUBLISH_BODIES = bodiesFile('publish', [
  body({ action: 'publish', protocol: 'rtmp', token: PUBLISH, query: `token=${PUBLISH}` }),
]);
/** HLS reads carrying a viewer JWT, as MediaMTX sends them for `Authorization: Bearer`. */
const viewerBodies = (name: string, jwts: string[]) =>
  bodiesFile(
    name,
    jwts.map((t) => body({ token: t })),
  );
const JWT_BODIES = viewerBodies('jwt', tokens);
const HS_BODIES = viewerBodies('jwt-hs256', hsTokens);
// 1 000 viewers re-authenticating (a reconnect, the page then the playlist): their tokens are in the cache.
const CACHED_BODIES = viewerBodies('jwt-cached', tokens.slice(0, 1000));

interface Server {
  url: string;
  cpuMicros(): Promise<number>;
  stop(): void;
}
async function server(mode: 'sidecar' | 'bare', config = RS256_CONFIG): Promise<Server> {
  const port = await freePort();
  const child = fork(SERVER_JS, [mode, config, String(port)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    execArgv: mode === 'sidecar' ? nodeFlags : [],
  });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code, sig) =>
      reject(new Error(`the ${mode} server exited (${code ?? sig}) before it was ready`)),
    );
  });
  return {
    url: `http://127.0.0.1:${port}/auth`,
    cpuMicros: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve((m as { cpu: number }).cpu));
        child.send('cpu');
      }),
    stop: () => child.kill(),
  };
}

interface Load {
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
}
/** One authload run; the server's CPU time over it, per answered request, in µs. */
async function load(s: Server, bodies: string, opts: { keepalive?: boolean; rate?: number; secs?: number } = {}) {
  const args = ['-url', s.url, '-bodies', bodies, '-duration', `${opts.secs ?? seconds}s`];
  args.push(...(opts.rate ? ['-mode', 'rate', '-rate', String(opts.rate)] : ['-conns', String(connections)]));
  if (opts.keepalive) args.push('-keepalive');
  const cpu0 = await s.cpuMicros();
  const r = JSON.parse(execFileSync(authload, args, { encoding: 'utf8', maxBuffer: 1 << 20 })) as Load;
  const cpu = (await s.cpuMicros()) - cpu0;
  if (r.non2xx > 0 || r.errors > 0)
    throw new Error(`${r.non2xx} denials and ${r.errors} errors from ${s.url}: the benchmark would not measure allows`);
  return { ...r, rps: Math.round(r.rps), cpu_us_per_request: Number((cpu / Math.max(1, r.requests)).toFixed(1)) };
}

const ratio = (a: number, b: number) => Number((a / b).toFixed(3));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
/** The median of one figure over the rounds, with its range. */
const summary = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

const floor = await verifyFloor();
const bare = await server('bare');
const side = await server('sidecar');
const hmacSide = await server('sidecar', HS256_CONFIG);
try {
  // Warm both (JIT, the sidecar's key import) before measuring.
  for (const keepalive of [false, true]) {
    await load(bare, PUBLISH_BODIES, { keepalive, secs: 2 });
    await load(side, PUBLISH_BODIES, { keepalive, secs: 2 });
    await load(side, CACHED_BODIES, { keepalive, secs: 2 });
    await load(hmacSide, HS_BODIES, { keepalive, secs: 2 });
  }
  type Phase = Awaited<ReturnType<typeof load>>;
  const phases = {
    baseline: [bare, PUBLISH_BODIES],
    publish: [side, PUBLISH_BODIES],
    jwt: [side, JWT_BODIES],
    jwt_cached: [side, CACHED_BODIES],
    jwt_hs256: [hmacSide, HS_BODIES],
  } as const;
  type Name = keyof typeof phases;
  const closed = async (keepalive: boolean) => {
    const runs: Record<Name, Phase[]> = { baseline: [], publish: [], jwt: [], jwt_cached: [], jwt_hs256: [] };
    for (let r = 0; r < rounds; r++)
      for (const name of Object.keys(phases) as Name[])
        runs[name].push(await load(phases[name][0], phases[name][1], { keepalive }));
    const of = (name: Name) => ({
      rps: summary(runs[name].map((x) => x.rps)),
      p50_ms: summary(runs[name].map((x) => x.p50_ms)),
      p99_ms: summary(runs[name].map((x) => x.p99_ms)),
      cpu_us_per_request: summary(runs[name].map((x) => x.cpu_us_per_request)),
    });
    const ratios = (name: Name) => summary(runs[name].map((x, i) => ratio(x.rps, runs.baseline[i]!.rps)));
    return {
      baseline: of('baseline'),
      publish: of('publish'),
      jwt: of('jwt'),
      jwt_cached: of('jwt_cached'),
      jwt_hs256: of('jwt_hs256'),
      publish_ratio: ratios('publish'),
      jwt_ratio: ratios('jwt'),
      jwt_cached_ratio: ratios('jwt_cached'),
      jwt_hs256_ratio: ratios('jwt_hs256'),
    };
  };
  const perConnection = await closed(false);
  const keepalive = await closed(true);
  // Latency at a fixed 2 000 requests/s, each request timed from send to answer, with MediaMTX's connection pattern.
  await load(side, JWT_BODIES, { rate: 2000, secs: 1 }); // warm-up at the target rate, discarded
  const at2kRuns: Record<'baseline' | 'publish' | 'jwt', Phase[]> = { baseline: [], publish: [], jwt: [] };
  for (let r = 0; r < rounds; r++) {
    at2kRuns.baseline.push(await load(bare, PUBLISH_BODIES, { rate: 2000 }));
    at2kRuns.publish.push(await load(side, PUBLISH_BODIES, { rate: 2000 }));
    at2kRuns.jwt.push(await load(side, JWT_BODIES, { rate: 2000 }));
  }
  const fixedRate = (runs: Phase[]) => ({
    achieved_rps: summary(runs.map((x) => x.rps)),
    p50_ms: summary(runs.map((x) => x.p50_ms)),
    p99_ms: summary(runs.map((x) => x.p99_ms)),
    max_ms: Math.max(...runs.map((x) => x.max_ms)),
    cpu_us_per_request: summary(runs.map((x) => x.cpu_us_per_request)),
  });
  const at2k = {
    baseline: fixedRate(at2kRuns.baseline),
    publish: fixedRate(at2kRuns.publish),
    jwt: fixedRate(at2kRuns.jwt),
  };
  const result = {
    publish_rps: perConnection.publish.rps.median,
    jwt_rps: perConnection.jwt.rps.median,
    baseline_rps: perConnection.baseline.rps.median,
    publish_ratio: perConnection.publish_ratio.median,
    jwt_ratio: perConnection.jwt_ratio.median,
    p99_ms_at_2k: Math.max(at2k.publish.p99_ms.median, at2k.jwt.p99_ms.median),
    crypto_verify_us: floor.crypto_verify_us,
    jose_jwt_verify_us: floor.jose_jwt_verify_us,
    // One core doing nothing but signature checks: the ceiling of new-viewer decisions per second per core.
    crypto_verify_per_s_one_core: Math.round(1e6 / floor.crypto_verify_us),
    detail: {
      sidecar_node_flags: nodeFlags,
      floor:
        'crypto_verify_us: node:crypto RSA-SHA256 verify of one token signing input, in-process, one at a time; ' +
        'jose_jwt_verify_us: jose jwtVerify of the same token (parse, claims, WebCrypto verify). No HTTP.',
      seconds_per_phase: seconds,
      rounds,
      connections,
      figures: 'median over the rounds (min, max beside it); ratios are taken within a round',
      load_tool:
        'tools/authload (Go net/http, as MediaMTX 1.20.1 calls the hook: a new connection per call, POST JSON); ' +
        'every figure above is from that pattern, keepalive below reuses connections',
      jwt: `RS256, ${TOKENS} distinct tokens, each request a token no request in flight carries and the cache no longer holds`,
      jwt_hs256: 'the same with HS256 tokens and an HMAC secret',
      jwt_cached: '1 000 viewers re-authenticating with tokens already verified',
      cpu: 'cpu_us_per_request: the server process CPU time (all threads) per request',
      per_connection: perConnection,
      keepalive,
      at_2k_rps: at2k,
    },
  };
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(join(import.meta.dirname, 'results/auth.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
} finally {
  for (const s of [bare, side, hmacSide]) s.stop();
}
