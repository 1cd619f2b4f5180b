// One stream "pod" on this machine for bench/stream-cost.ts and bench/joins.ts: the objects our renderer produces for
// a LiveStream with viewer JWTs (src/render/objects.ts), run as local processes the way the pod runs them:
//   - MediaMTX 1.20.1 (tools/build.sh mediamtx) with the rendered mediamtx.yml, listeners moved to free loopback
//     ports by MediaMTX's own MTX_* environment overrides;
//   - the sidecar as the image runs it: `node <the container's node flags> dist/src/cli.js auth ...` (the compiled
//     JavaScript, `npm run build`), or from sources for comparison;
//   - the secrets (publish token, internal API token, the viewers' JWKS) as files where auth.json says.
// Only loopback addresses are used.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { freePort } from '../dev/cluster.ts';
import { REPO_ROOT, toolPath } from '../dev/tools.ts';
import type { LiveStream } from '../src/api/livestream.ts';
import { mediamtxYaml } from '../src/render/mediamtx-config.ts';
import { type RenderedStream, renderStream } from '../src/render/objects.ts';
import { processTree } from '../test/support/process.ts';

export const STREAM_PATH = 'live/bench';
export const ISSUER = 'https://id.bench';
export const PUBLISH_TOKEN = 'bench-publish-token-0123456789abcdef';
const API_TOKEN = 'bench-api-token-0123456789abcdef';

/** Builds what the benchmarks run: MediaMTX, the load client, and the compiled JavaScript of the image. */
export function buildAll(): void {
  execFileSync('bash', [join(REPO_ROOT, 'tools/build.sh'), 'mediamtx', 'authload'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

export function benchStream(): LiveStream {
  return {
    apiVersion: 'vstream.io/v1alpha1',
    kind: 'LiveStream',
    metadata: { name: 'bench', namespace: 'bench', uid: '00000000-0000-0000-0000-000000000001' },
    spec: {
      path: STREAM_PATH,
      ingest: { protocols: ['rtmp'] },
      playback: {
        protocols: ['hls'],
        access: 'jwt',
        jwt: { issuer: ISSUER, audience: 'vstream', keysSecretRef: { name: 'viewer-keys', key: 'jwks.json' } },
      },
    },
  } as unknown as LiveStream;
}

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export function rendered(): { r: RenderedStream; sidecar: Container } {
  const r = renderStream(benchStream(), { sidecarImage: 'vstream:bench' });
  const pod = (
    r.deployment as unknown as {
      spec: { template: { spec: { containers: Container[]; initContainers?: Container[] } } };
    }
  ).spec.template.spec;
  // The auth sidecar is a native sidecar (an init container with restartPolicy Always).
  return { r, sidecar: [...(pod.initContainers ?? []), ...pod.containers].find((c) => c.name === 'auth')! };
}

/** The node flags the rendered sidecar container runs with (its command between node and the script). */
export function sidecarNodeFlags(): string[] {
  const cmd = rendered().sidecar.command ?? [];
  return cmd.slice(1).filter((a) => a.startsWith('--'));
}

/** Kubernetes memory quantity (Mi, Gi, M, plain bytes) in MiB. */
export function mib(q: string | undefined): number | undefined {
  if (!q) return undefined;
  const m = /^([0-9.]+)(Ki|Mi|Gi|k|M|G)?$/.exec(q);
  if (!m) return undefined;
  const f: Record<string, number> = {
    Ki: 1 / 1024,
    Mi: 1,
    Gi: 1024,
    k: 1000 / 1048576,
    M: 1e6 / 1048576,
    G: 1e9 / 1048576,
  };
  return Number(m[1]) * (m[2] ? f[m[2]]! : 1 / 1048576);
}

export interface Keys {
  privateKey: CryptoKey;
  jwks: string;
}
export async function viewerKeys(): Promise<Keys> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
  return { privateKey, jwks };
}

/**
 * Distinct viewer tokens good for the stream with both deciders: our claim and MediaMTX's own
 * (mediamtx_permissions), so the sidecar and MediaMTX's native `authMethod: jwt` accept the very same token.
 */
export async function viewerTokens(keys: Keys, n: number, ttlSeconds = 3600): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000);
  const out: string[] = [];
  for (let i = 0; i < n; i++)
    out.push(
      await new SignJWT({
        'vstream.io/paths': [STREAM_PATH],
        mediamtx_permissions: [{ action: 'read', path: STREAM_PATH }],
      })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(ISSUER)
        .setAudience('vstream')
        .setSubject(`viewer-${i}`)
        .setExpirationTime(now + ttlSeconds)
        .sign(keys.privateKey),
    );
  return out;
}

export async function publisherJwt(keys: Keys): Promise<string> {
  return new SignJWT({ mediamtx_permissions: [{ action: 'publish', path: STREAM_PATH }] })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience('vstream')
    .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
    .sign(keys.privateKey);
}

export interface Pod {
  dir: string;
  ports: { rtmp: number; hls: number; api: number; metrics: number; hook: number; ops: number };
  mediamtx: ChildProcess;
  sidecar?: ChildProcess;
  hlsBase: string;
  rtmpUrl: string;
  stop(): Promise<void>;
}

export interface PodOptions {
  keys: Keys;
  /** 'sidecar' (the rendered config), or MediaMTX's own JWT check against a JWKS served at `jwksUrl`. */
  auth: 'sidecar' | { jwksUrl: string };
  /** How the sidecar runs: the compiled JavaScript with these node flags, or the TypeScript sources. */
  sidecar?: { from: 'dist' | 'src'; nodeFlags: string[] };
}

const waitFor = async (what: string, f: () => Promise<boolean>, ms = 20_000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not up after ${ms} ms`);
};

export async function startSidecar(
  dir: string,
  ports: { hook: number; ops: number; api: number },
  how: { from: 'dist' | 'src'; nodeFlags: string[]; singleProcess?: boolean; env?: Record<string, string> },
): Promise<ChildProcess> {
  const script = how.from === 'dist' ? join(REPO_ROOT, 'dist/src/cli.js') : join(REPO_ROOT, 'src/cli.ts');
  const child = spawn(
    process.execPath,
    [
      ...how.nodeFlags,
      script,
      'auth',
      '--config',
      join(dir, 'config/auth.json'),
      '--listen',
      `127.0.0.1:${ports.hook}`,
      '--ops-listen',
      `127.0.0.1:${ports.ops}`,
      '--mediamtx-api',
      `http://127.0.0.1:${ports.api}`,
      ...(how.singleProcess ? ['--single-process'] : []),
    ],
    // Its log goes where a container's does: a file (a pipe nobody reads would stall it).
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NODE_ENV: 'production', ...how.env } },
  );
  await waitFor('sidecar', async () => (await fetch(`http://127.0.0.1:${ports.ops}/readyz`)).ok);
  return child;
}

export async function startPod(opts: PodOptions): Promise<Pod> {
  const dir = mkdtempSync(join(tmpdir(), 'vstream-bench-pod-'));
  const { r } = rendered();
  // The mount paths of auth.json, moved under this directory (as dev/pod-runner.ts does for the e2e suite).
  const rewrite = (t: string) =>
    t.replaceAll('/var/run/vstream/', `${dir}/secrets/`).replaceAll('/config/', `${dir}/config/`);
  for (const d of ['config', 'secrets/publish', 'secrets/internal', 'secrets/jwt', 'work'])
    mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'config/auth.json'), rewrite(JSON.stringify(r.auth)));
  writeFileSync(join(dir, `secrets/publish/${r.publishSecret.key}`), `${PUBLISH_TOKEN}\n`);
  writeFileSync(join(dir, 'secrets/internal/api-token'), API_TOKEN);
  writeFileSync(join(dir, 'secrets/jwt/jwks.json'), opts.keys.jwks);
  const config: Record<string, unknown> = { ...r.config };
  if (opts.auth !== 'sidecar') {
    // MediaMTX's own JWT check: the same keys, the same tokens (mediamtx_permissions), no sidecar.
    Object.assign(config, {
      authMethod: 'jwt',
      authJWTJWKS: opts.auth.jwksUrl,
      authJWTClaimKey: 'mediamtx_permissions',
      // The same checks the sidecar makes (auth.json read.jwt).
      authJWTIssuer: ISSUER,
      authJWTAudience: 'vstream',
      authHTTPAddress: '',
    });
  }
  writeFileSync(join(dir, 'config/mediamtx.yml'), mediamtxYaml(config));
  const ports = {
    rtmp: await freePort(),
    hls: await freePort(),
    api: await freePort(),
    metrics: await freePort(),
    hook: await freePort(),
    ops: await freePort(),
  };
  const sidecar =
    opts.auth === 'sidecar'
      ? await startSidecar(dir, ports, opts.sidecar ?? { from: 'dist', nodeFlags: sidecarNodeFlags() })
      : undefined;
  const mediamtx = spawn(toolPath('mediamtx'), [join(dir, 'config/mediamtx.yml')], {
    cwd: join(dir, 'work'),
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      MTX_LOGLEVEL: 'warn',
      MTX_RTMPADDRESS: `127.0.0.1:${ports.rtmp}`,
      MTX_HLSADDRESS: `127.0.0.1:${ports.hls}`,
      MTX_APIADDRESS: `127.0.0.1:${ports.api}`,
      MTX_METRICSADDRESS: `127.0.0.1:${ports.metrics}`,
      ...(opts.auth === 'sidecar' ? { MTX_AUTHHTTPADDRESS: `http://127.0.0.1:${ports.hook}/auth` } : {}),
    },
  });
  const net = await import('node:net');
  await waitFor(
    'mediamtx',
    () =>
      new Promise((res) => {
        const s = net.connect(ports.hls, '127.0.0.1', () => {
          s.end();
          res(true);
        });
        s.on('error', () => res(false));
      }),
  );
  const kill = (c?: ChildProcess) =>
    new Promise<void>((res) => {
      if (!c || c.exitCode !== null || c.signalCode !== null) return res();
      c.once('exit', () => res());
      c.kill('SIGTERM');
      setTimeout(() => c.kill('SIGKILL'), 5000).unref();
    });
  return {
    dir,
    ports,
    mediamtx,
    ...(sidecar ? { sidecar } : {}),
    hlsBase: `http://127.0.0.1:${ports.hls}`,
    rtmpUrl: `rtmp://127.0.0.1:${ports.rtmp}/${STREAM_PATH}`,
    stop: async () => {
      await Promise.all([kill(mediamtx), kill(sidecar)]);
    },
  };
}

/**
 * Resident memory of a process and its descendants, from /proc: anonymous (what an OOM kill counts against) summed,
 * file-backed counted once (the processes of one container map the same binary: its page cache is charged to the
 * container once), and `rss` their sum, what the container's memory accounting sees. For one process, its VmRSS.
 */
export function rss(pid: number): { rss: number; anon: number; file: number; processes: number } {
  let anon = 0;
  let file = 0;
  const pids = processTree(pid);
  for (const p of pids) {
    try {
      const s = readFileSync(`/proc/${p}/status`, 'utf8');
      const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) / 1024;
      anon += kb('RssAnon');
      file = Math.max(file, kb('RssFile') + kb('RssShmem'));
    } catch {}
  }
  return { rss: anon + file, anon, file, processes: pids.length };
}

/** CPU seconds (user + system) a process and its living descendants have used so far. */
export function cpuSeconds(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
    } catch {}
  }
  return total;
}
