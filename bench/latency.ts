// Glass-to-glass latency per reader, per frame: through the MediaMTX config vstream renders with the `vstream auth`
// sidecar deciding every publish and read (publish token, viewer JWT), beside the same config with MediaMTX's
// `authMethod: internal`, in the same run, from the same publisher. Writes bench/results/latency.json.
//   npm run bench:latency [-- --seconds 60 --warmup 8 --fps 30 --gop 30]
//
// Method (tools/latprobe/main.go has the details):
//   - ffmpeg encodes a test pattern (libx264 ultrafast, zerolatency, baseline: no B-frames, a fixed GOP of --gop
//     frames) to Annex-B on a pipe; tools/latprobe sends its access units on a fixed frame clock and stamps each one,
//     as it sends it, with an H.264 SEI user_data_unregistered message (our UUID, sequence number, wall clock).
//   - The same stamped frames go over RTMP to both MediaMTX processes (one connection each), so both see the same
//     stream at the same moment; both run at once on 127.0.0.1 and share this machine's load alike.
//   - Readers on each server recover the stamp of every frame: WebRTC (WHEP, pion), RTSP (TCP), LL-HLS (blocking
//     playlist reloads, each part fetched as soon as it is announced), and plain HLS modelled as hls.js plays it
//     with its defaults and low-latency mode off (3 target durations behind the live edge, whole segments, real-time
//     playback with stalls). Latency = receive (or, for plain HLS, display) wall clock - stamp; same clock.
//   - Frames stamped in the first --warmup seconds (the joins) are left out; the next --seconds are measured.
//   - Not included: capture and encode before the stamp (about a frame with zerolatency), and a player's jitter
//     buffer, decode and render after arrival.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { freePort } from '../dev/cluster.ts';
import { REPO_ROOT } from '../dev/tools.ts';
import { type LiveStream, resolveSpec } from '../src/api/livestream.ts';
import { authConfig, mediamtxConfig, mediamtxYaml, SECRETS_DIR } from '../src/render/mediamtx-config.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '8' },
    fps: { type: 'string', default: '30' },
    gop: { type: 'string', default: '30' },
    size: { type: 'string', default: '640x360' },
    bitrate: { type: 'string', default: '1500k' },
    readers: { type: 'string', default: 'webrtc,rtsp,llhls,hls' },
    out: { type: 'string', default: join(REPO_ROOT, 'bench/results/latency.json') },
    // Tuning experiments: override a rendered key on both servers, e.g. --set hlsPartDuration=100ms.
    set: { type: 'string', multiple: true, default: [] },
  },
});
const READERS = values.readers.split(',');
const OVERRIDES: Record<string, unknown> = Object.fromEntries(
  values.set.map((kv) => {
    const i = kv.indexOf('=');
    const v = kv.slice(i + 1);
    return [kv.slice(0, i), /^[0-9]+$/.test(v) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v];
  }),
);

/** tools/build.sh prints family=<dir> for what it built (or found cached). */
function buildTools(...families: string[]): Record<string, string> {
  const out = execFileSync('bash', [join(REPO_ROOT, 'tools/build.sh'), ...families], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2) as [string, string]),
  );
}
const bins = buildTools('mediamtx', 'latprobe');
const mtxBin = join(bins.mediamtx!, 'mediamtx');

const dir = mkdtempSync(join(tmpdir(), 'vstream-bench-latency-'));
const secrets = join(dir, 'secrets');
for (const d of ['publish', 'jwt', 'internal']) mkdirSync(join(secrets, d), { recursive: true });

// The stream as a user would write it: RTMP in, the readers out, viewers with JWTs from a JWKS.
const stream: LiveStream = {
  apiVersion: 'vstream.io/v1alpha1',
  kind: 'LiveStream',
  metadata: { name: 'bench', namespace: 'bench' },
  spec: {
    ingest: { protocols: ['rtmp'] },
    playback: {
      protocols: ['hls', 'webrtc', 'rtsp'],
      access: 'jwt',
      jwt: { issuer: 'https://id.bench', keysSecretRef: { name: 'viewer-keys', key: 'jwks.json' } },
    },
    mediamtx: { logLevel: 'warn' },
  },
} as LiveStream;
const spec = resolveSpec(stream.metadata.name, stream.spec);
const PATH = spec.path;

const PUBLISH = `bench-publish-${crypto.randomUUID()}`;
const VIEWER_PASS = `bench-viewer-${crypto.randomUUID()}`;
writeFileSync(join(secrets, 'publish/token'), `${PUBLISH}\n`);
writeFileSync(join(secrets, 'internal/api-token'), `bench-api-${crypto.randomUUID()}`);
const { publicKey, privateKey } = await generateKeyPair('RS256');
writeFileSync(
  join(secrets, 'jwt/jwks.json'),
  JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }] }),
);
const viewerJwt = await new SignJWT({ 'vstream.io/paths': [PATH] })
  .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
  .setIssuer('https://id.bench')
  .setAudience('vstream')
  .setSubject('bench-viewer')
  .setExpirationTime('2h')
  .sign(privateKey);

interface Ports {
  rtmp: number;
  rtsp: number;
  hls: number;
  webrtc: number;
  ice: number;
  api: number;
  metrics: number;
}
const ports = async (): Promise<Ports> => ({
  rtmp: await freePort(),
  rtsp: await freePort(),
  hls: await freePort(),
  webrtc: await freePort(),
  ice: await freePort(),
  api: await freePort(),
  metrics: await freePort(),
});

/**
 * The rendered config, with loopback addresses where the pod has its own (as dev/pod-runner.ts does with MTX_*),
 * and ICE advertising 127.0.0.1 the way the renderer advertises a Service's reachable host.
 */
function rendered(p: Ports, authPort: number): Record<string, unknown> {
  const c = mediamtxConfig(spec, { iceHost: '127.0.0.1', ice: { udp: p.ice, tcp: p.ice } });
  return {
    ...c,
    ...OVERRIDES,
    rtmpAddress: `127.0.0.1:${p.rtmp}`,
    rtspAddress: `127.0.0.1:${p.rtsp}`,
    hlsAddress: `127.0.0.1:${p.hls}`,
    webrtcAddress: `127.0.0.1:${p.webrtc}`,
    webrtcLocalUDPAddress: `127.0.0.1:${p.ice}`,
    webrtcLocalTCPAddress: '',
    apiAddress: `127.0.0.1:${p.api}`,
    metricsAddress: `127.0.0.1:${p.metrics}`,
    authHTTPAddress: `http://127.0.0.1:${authPort}/auth`,
  };
}

/** The same config with MediaMTX's own user list deciding, and credentials a user would give it. */
function internal(c: Record<string, unknown>): Record<string, unknown> {
  const { authHTTPAddress: _a, authHTTPExclude: _e, ...rest } = c;
  return {
    ...rest,
    authMethod: 'internal',
    authInternalUsers: [
      { user: 'publisher', pass: PUBLISH, ips: [], permissions: [{ action: 'publish', path: PATH }] },
      { user: 'viewer', pass: VIEWER_PASS, ips: [], permissions: [{ action: 'read', path: PATH }] },
      { user: 'any', pass: '', ips: ['127.0.0.1'], permissions: [{ action: 'api' }, { action: 'metrics' }] },
    ],
  };
}

const procs: ChildProcess[] = [];
function start(name: string, cmd: string, args: string[]): ChildProcess {
  const log = openSync(join(dir, `${name}.log`), 'a');
  const child = spawn(cmd, args, { cwd: dir, stdio: ['ignore', log, log] });
  procs.push(child);
  child.on('exit', (code, sig) => {
    if (!stopping) console.error(`${name} exited (${code ?? sig}); its log: ${join(dir, `${name}.log`)}`);
  });
  return child;
}
let stopping = false;
const stopAll = () => {
  stopping = true;
  for (const p of procs) p.kill();
};
process.on('exit', stopAll);

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
async function waitListening(what: string, port: number) {
  for (let i = 0; i < 200; i++) {
    if (await listening(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on ${port}; logs in ${dir}`);
}

// (a) the rendered config with the sidecar.
const sideP = await ports();
const [authPort, opsPort] = [await freePort(), await freePort()];
const sideConfig = rendered(sideP, authPort);
writeFileSync(join(dir, 'sidecar-mediamtx.yml'), mediamtxYaml(sideConfig));
const auth = authConfig(spec, 'token');
writeFileSync(join(dir, 'auth.json'), JSON.stringify(auth).replaceAll(SECRETS_DIR, secrets));
start('auth', process.execPath, [
  join(REPO_ROOT, 'src/cli.ts'),
  'auth',
  '--config',
  join(dir, 'auth.json'),
  '--listen',
  `127.0.0.1:${authPort}`,
  '--ops-listen',
  `127.0.0.1:${opsPort}`,
  '--mediamtx-api',
  `http://127.0.0.1:${sideP.api}`,
]);
start('sidecar-mediamtx', mtxBin, [join(dir, 'sidecar-mediamtx.yml')]);
// (b) the same with authMethod internal.
const intP = await ports();
writeFileSync(join(dir, 'internal-mediamtx.yml'), mediamtxYaml(internal(rendered(intP, 1))));
start('internal-mediamtx', mtxBin, [join(dir, 'internal-mediamtx.yml')]);
await Promise.all([
  waitListening('auth sidecar', authPort),
  waitListening('MediaMTX (sidecar)', sideP.rtmp),
  waitListening('MediaMTX (internal)', intP.rtmp),
]);

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const probeConfig = {
  ffmpeg: 'ffmpeg',
  fps: Number(values.fps),
  gop: Number(values.gop),
  size: values.size,
  bitrate: values.bitrate,
  duration_s: Number(values.seconds),
  warmup_s: Number(values.warmup),
  readers: READERS,
  servers: [
    {
      name: 'sidecar',
      rtmp: `rtmp://127.0.0.1:${sideP.rtmp}/${PATH}?token=${PUBLISH}`,
      rtsp: `rtsp://viewer:${viewerJwt}@127.0.0.1:${sideP.rtsp}/${PATH}`,
      hls: `http://127.0.0.1:${sideP.hls}/${PATH}`,
      whep: `http://127.0.0.1:${sideP.webrtc}/${PATH}/whep`,
      authorization: `Bearer ${viewerJwt}`,
    },
    {
      name: 'internal',
      rtmp: `rtmp://127.0.0.1:${intP.rtmp}/${PATH}?user=publisher&pass=${PUBLISH}`,
      rtsp: `rtsp://viewer:${VIEWER_PASS}@127.0.0.1:${intP.rtsp}/${PATH}`,
      hls: `http://127.0.0.1:${intP.hls}/${PATH}`,
      whep: `http://127.0.0.1:${intP.webrtc}/${PATH}/whep`,
      authorization: basic('viewer', VIEWER_PASS),
    },
  ],
};
// Credentials go in a file, never in a process argument.
const probeFile = join(dir, 'latprobe.json');
writeFileSync(probeFile, JSON.stringify(probeConfig), { mode: 0o600 });

interface Reader {
  frames: number;
  expected: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  min_ms: number;
  max_ms: number;
  stalls?: number;
  stall_ms?: number;
  part_hold_back_ms?: number;
  frames_later_than_hold_back?: number;
  errors?: string[];
}
interface Probe {
  fps: number;
  gop: number;
  frames_sent: number;
  servers: Record<'sidecar' | 'internal', Record<string, Reader>>;
}
console.error(
  `[latency] ${values.seconds}s measured after ${values.warmup}s warm-up, ${values.fps} fps, GOP ${values.gop}; ` +
    `readers ${READERS.join(', ')} on both servers at once (logs in ${dir})`,
);
const probe = JSON.parse(
  execFileSync(join(bins.latprobe!, 'latprobe'), ['-config', probeFile], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 << 20,
  }),
) as Probe;
// How often MediaMTX asked the sidecar while the readers played (every HLS request is a decision).
const metricsText = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
const decisions: Record<string, number> = {};
for (const m of metricsText.matchAll(/^vstream_auth_decisions_total\{([^}]*)\} ([0-9.e+]+)$/gm)) {
  const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
  const key = `${labels.action}/${labels.protocol}/${labels.result}`;
  decisions[key] = (decisions[key] ?? 0) + Number(m[2]);
}
stopAll();

const TARGET_P95_MS: Record<string, number> = { webrtc: 200, llhls: 1000 };
const ratio = (a: number, b: number) => Number((a / b).toFixed(3));
const readers: Record<string, unknown> = {};
const problems: string[] = [];
for (const r of READERS) {
  const s = probe.servers.sidecar[r]!;
  const i = probe.servers.internal[r]!;
  for (const [who, x] of [
    ['sidecar', s],
    ['internal', i],
  ] as const) {
    if (x.frames < 0.95 * x.expected) problems.push(`${r} (${who}) got ${x.frames} of ${x.expected} frames`);
    if (x.errors?.length) problems.push(`${r} (${who}): ${x.errors.join('; ')}`);
  }
  readers[r] = {
    ...s,
    // The lowest fixed playout delay that would have played every measured frame on time (no stall).
    smooth_playout_ms: s.max_ms,
    internal_auth: i,
    sidecar_vs_internal_p50: ratio(s.p50_ms, i.p50_ms),
    sidecar_vs_internal_p95: ratio(s.p95_ms, i.p95_ms),
    // Next to the ratio: where both are about a millisecond (WebRTC, RTSP), a ratio is mostly timer noise.
    sidecar_minus_internal_p95_ms: Number((s.p95_ms - i.p95_ms).toFixed(2)),
    ...(TARGET_P95_MS[r] ? { target_p95_ms: TARGET_P95_MS[r], meets_target: s.p95_ms <= TARGET_P95_MS[r]! } : {}),
  };
}
const hlsKeys = Object.fromEntries(
  Object.entries(sideConfig).filter(([k]) => /^hls(Part|Segment|Variant|AlwaysRemux|MuxerCloseAfter)/.test(k)),
);
const result = {
  method:
    'per-frame SEI stamps (tools/latprobe); RTMP publish from one stamped source to both servers at once; ' +
    'latency = arrival (plain HLS: modelled display) wall clock - stamp; capture/encode and player buffers excluded',
  machine_note: 'both MediaMTX processes, the sidecar, ffmpeg and the readers share this 2-core machine',
  fps: probe.fps,
  gop_frames: probe.gop,
  seconds: Number(values.seconds),
  frames_sent: probe.frames_sent,
  rendered_hls_keys: hlsKeys,
  overrides: OVERRIDES,
  sidecar_decisions: decisions,
  readers,
  sidecar_vs_internal_target: 1.05,
  problems,
};
writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
const row = (r: string, x: Reader) =>
  `${r.padEnd(8)} p50 ${String(x.p50_ms).padStart(7)}  p95 ${String(x.p95_ms).padStart(7)}  p99 ${String(x.p99_ms).padStart(7)} ms` +
  `  (${x.frames}/${x.expected} frames${x.stalls !== undefined ? `, ${x.stalls} stalls` : ''}` +
  `${x.part_hold_back_ms ? `, PART-HOLD-BACK ${x.part_hold_back_ms} ms, ${x.frames_later_than_hold_back} later` : ''})`;
for (const r of READERS) {
  console.log(`sidecar  ${row(r, probe.servers.sidecar[r]!)}`);
  console.log(`internal ${row(r, probe.servers.internal[r]!)}`);
}
if (problems.length) console.error(`[latency] problems:\n  ${problems.join('\n  ')}`);
console.log(`wrote ${values.out}`);
