// What restreaming and thumbnails cost, and what restreaming adds to latency. Writes bench/results/media.json.
//   npm run bench:media [-- --window 60 --size 854x480 --bitrate 1500k]
//
// Everything real, on loopback: MediaMTX 1.20.1 as the stream's server (the source), a second MediaMTX requiring a
// key as the restream target (test/support/rtmp-target.ts), ffmpeg publishing x264 + AAC over RTMP.
// Phases, each over the same window on the same live stream:
//   baseline       the source MediaMTX's CPU with the publisher only;
//   restream xN    N targets (1, then 2) through MediaMTX's own `forward` list (what the sidecar sets over the API,
//                  src/restream/): the source MediaMTX's CPU over baseline, per target;
//   thumbnails     at the default 10 s interval: `vstream media` as the image runs it (the compiled JavaScript,
//                  the container's node flags) keeping keyframes, plus the thumbnail container's shell loop with the
//                  ffmpeg runs it reaped, plus the source MediaMTX over baseline (one more RTMP reader).
// Added latency (during restream x1): two RTMP readers (src/media/client.ts) play the source and the target's copy
// at once; each video frame is matched across them by its bytes; the difference of its arrival times is what the
// restream hop adds (MediaMTX's forwarder + the target's ingest, as a viewer of the target would see it).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../dev/cluster.ts';
import { REPO_ROOT, toolPath } from '../dev/tools.ts';
import { MessageType, type RtmpMessage } from '../src/media/chunk.ts';
import { parseServerUrl, RtmpConnection } from '../src/media/client.ts';
import { thumbnailScript } from '../src/render/media.ts';
import { MEDIA_NODE_FLAGS } from '../src/render/objects.ts';
import { publishRtmp } from '../test/support/media.ts';
import { startRtmpTarget } from '../test/support/rtmp-target.ts';
import { waitUntil } from '../test/support/wait.ts';

const { values } = parseArgs({
  options: {
    window: { type: 'string', default: '60' },
    size: { type: 'string', default: '854x480' },
    bitrate: { type: 'string', default: '1500k' },
  },
});
const WINDOW_S = Number(values.window);
const KEY = 'bench-target-key-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number) => Math.round(x * 10) / 10;

/** CPU seconds of a process: user + system, plus its reaped children's when asked. */
function cpu(pid: number, children = false): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const own = Number(f[11]) + Number(f[12]);
  return (children ? own + Number(f[13]) + Number(f[14]) : own) / 100;
}
const rssMiB = (pid: number) =>
  round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);

/** Millicores of each process over the window. */
async function window(pids: Record<string, { pid: number; children?: boolean }>) {
  const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpu(p.pid, p.children)]));
  await sleep(WINDOW_S * 1000);
  return Object.fromEntries(
    Object.entries(pids).map(([k, p]) => [k, round(((cpu(p.pid, p.children) - before[k]!) / WINDOW_S) * 1000)]),
  ) as Record<string, number>;
}

async function main() {
  execFileSync('bash', [join(REPO_ROOT, 'tools/build.sh'), 'mediamtx'], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const dir = mkdtempSync(join(tmpdir(), 'vstream-bench-media-'));
  const rtmp = await freePort();
  const api = await freePort();
  writeFileSync(
    join(dir, 'source.yml'),
    [
      'logLevel: warn',
      `rtmpAddress: 127.0.0.1:${rtmp}`,
      'rtsp: no',
      'hls: no',
      'webrtc: no',
      'srt: no',
      'moq: no',
      'playback: no',
      'api: yes',
      `apiAddress: 127.0.0.1:${api}`,
      'authInternalUsers:',
      '  - {user: any, pass: "", ips: [], permissions: [{action: publish}, {action: read}, {action: api}]}',
      'paths:',
      '  live/bench: {}',
      '',
    ].join('\n'),
  );
  const procs: ChildProcess[] = [];
  const stop = async (p: ChildProcess) => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  };
  const source = spawn(toolPath('mediamtx'), [join(dir, 'source.yml')], { cwd: dir, stdio: 'ignore' });
  procs.push(source);
  const target = await startRtmpTarget(KEY);
  await sleep(500);
  const pub = publishRtmp(`rtmp://127.0.0.1:${rtmp}/live/bench`, 3600, { size: values.size, bitrate: values.bitrate });
  const forward = async (n: number) => {
    const dests = Array.from({ length: n }, (_, i) => ({
      // As the sidecar builds it (src/restream/forward.ts): the key in the fragment, sent only in the publish command.
      dest: `rtmp://127.0.0.1:${target.port}/restream${i}#${encodeURIComponent(`copy?user=pub&pass=${KEY}`)}`,
    }));
    const res = await fetch(`http://127.0.0.1:${api}/v3/config/paths/patch/live/bench`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ forward: dests }),
    });
    if (res.status !== 200) throw new Error(`forward list: MediaMTX answered ${res.status}`);
  };
  const forwarding = async () => {
    const r = await fetch(`http://127.0.0.1:${api}/v3/paths/forward/list?path=live/bench`);
    return ((await r.json()) as { items?: { state: string }[] }).items?.filter((i) => i.state === 'forwarding').length;
  };
  try {
    await waitUntil(
      'the source is live',
      async () => {
        const r = await fetch(`http://127.0.0.1:${api}/v3/paths/get/live/bench`).catch(() => undefined);
        return r?.status === 200 && ((await r.json()) as { ready?: boolean }).ready === true;
      },
      30_000,
      200,
    );
    await sleep(3000);
    console.log(`[media] baseline (${WINDOW_S} s)...`);
    const baseline = await window({ mediamtx: { pid: source.pid! } });

    const restream: Record<string, unknown> = {};
    let latency: Record<string, number> | undefined;
    for (const n of [1, 2]) {
      console.log(`[media] restream x${n} (${WINDOW_S} s)...`);
      await forward(n);
      await waitUntil(`${n} target(s) forwarding`, async () => (await forwarding()) === n, 30_000, 200);
      await sleep(3000);
      const lat = n === 1 ? measureLatency(rtmp, target.port) : undefined;
      if (lat) await lat.ready;
      const used = await window({ mediamtx: { pid: source.pid! } });
      if (lat) latency = lat.stop();
      const extra = Math.max(0, used.mediamtx! - baseline.mediamtx!);
      restream[`x${n}`] = {
        source_mediamtx_millicores: used.mediamtx,
        extra_millicores: round(extra),
        per_target_millicores: round(extra / n),
        source_mediamtx_rss_mib: rssMiB(source.pid!),
      };
      console.log(`[media] restream x${n}: ${JSON.stringify(restream[`x${n}`])}`);
    }
    await forward(0);
    await sleep(3000);

    console.log(`[media] thumbnails every 10 s (${WINDOW_S} s)...`);
    const d = join(dir, 'thumbs');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'api-token'), 'unused-by-this-source\n');
    writeFileSync(
      join(d, 'media.json'),
      JSON.stringify({
        path: 'live/bench',
        source: `rtmp://127.0.0.1:${rtmp}`,
        api: `http://127.0.0.1:${api}`,
        apiTokenFile: join(d, 'api-token'),
        dir: `${d}/`,
        thumbnails: { intervalSeconds: 10 },
      }),
    );
    const m = spawn(
      join(REPO_ROOT, 'node_modules/.bin/node'),
      [...MEDIA_NODE_FLAGS, join(REPO_ROOT, 'dist/src/cli.js'), 'media', '--config', join(d, 'media.json')],
      { cwd: d, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    procs.push(m);
    const loop = spawn('/bin/sh', ['-c', thumbnailScript(`${d}/`)], { stdio: 'ignore' });
    procs.push(loop);
    await waitUntil(
      'first thumbnail',
      async () => {
        try {
          return readFileSync(join(d, 'thumbnail.jpg')).length > 0;
        } catch {
          return false;
        }
      },
      60_000,
      500,
    );
    const used = await window({
      mediamtx: { pid: source.pid! },
      media: { pid: m.pid! },
      ffmpeg_loop: { pid: loop.pid!, children: true },
    });
    const extra = Math.max(0, used.mediamtx! - baseline.mediamtx!);
    const thumbnails = {
      interval_seconds: 10,
      media_millicores: used.media,
      ffmpeg_loop_millicores: used.ffmpeg_loop,
      source_mediamtx_extra_millicores: round(extra),
      per_stream_millicores: round(used.media! + used.ffmpeg_loop! + extra),
      media_rss_mib: rssMiB(m.pid!),
      jpeg_bytes: readFileSync(join(d, 'thumbnail.jpg')).length,
    };
    console.log(`[media] thumbnails: ${JSON.stringify(thumbnails)}`);
    const result = {
      method:
        'CPU: /proc utime+stime over the window, millicores (thumbnail loop: with its reaped ffmpeg children). Restream: the source MediaMTX over the baseline of the same run, per target (MediaMTX forward, as the sidecar configures it). Latency: the same video frame (matched by its bytes to the copy on the other side nearest in time, within 2 s) read over RTMP from the source and from the target at once; added = arrival at the target reader - arrival at the source reader (negative: the copy at the target came first).',
      machine_note:
        'both MediaMTX processes, ffmpeg encoding, the media process and the readers share this 2-core machine',
      window_seconds: WINDOW_S,
      stream: { size: values.size, bitrate: values.bitrate, fps: 25, gop_frames: 25, audio: 'aac 64k' },
      baseline: { source_mediamtx_millicores: baseline.mediamtx },
      restream,
      restream_added_latency_ms: latency,
      thumbnails,
    };
    mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
    writeFileSync(join(REPO_ROOT, 'bench/results/media.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await pub.stop();
    for (const p of procs.reverse()) await stop(p);
    await target.stop();
  }
}

/**
 * Two readers at once; stop() gives percentiles of the per-frame arrival difference (ms). A test pattern repeats
 * frames byte for byte, so a frame is matched to the copy on the other side nearest in time (within 2 s), in whichever
 * order the two arrive (the forwarder may be served before the reader: a negative difference).
 */
function measureLatency(sourcePort: number, targetPort: number) {
  const WITHIN_MS = 2000;
  const pending = { source: new Map<string, number[]>(), target: new Map<string, number[]>() };
  const diffs: number[] = [];
  const key = (m: RtmpMessage) => createHash('sha1').update(m.body.subarray(5)).digest('hex');
  const conns: RtmpConnection[] = [];
  const arrive = (side: 'source' | 'target', k: string, at: number) => {
    const other = side === 'source' ? pending.target : pending.source;
    const times = (other.get(k) ?? []).filter((t) => at - t < WITHIN_MS);
    const match = times.shift();
    other.set(k, times);
    if (match !== undefined) {
      diffs.push(side === 'target' ? at - match : match - at);
      return;
    }
    const mine = pending[side];
    mine.set(k, [...(mine.get(k) ?? []).filter((t) => at - t < WITHIN_MS), at]);
  };
  const open = async (url: string, name: string, side: 'source' | 'target') => {
    const c = await RtmpConnection.open(parseServerUrl(url));
    conns.push(c);
    c.on('media', (m: RtmpMessage) => {
      if (m.type === MessageType.Video && m.body.length > 5) arrive(side, key(m), performance.now());
    });
    await c.play(name);
  };
  const ready = Promise.all([
    open(`rtmp://127.0.0.1:${sourcePort}/live`, 'bench', 'source'),
    open(`rtmp://127.0.0.1:${targetPort}/restream0`, 'copy', 'target'),
  ]);
  return {
    ready,
    stop: () => {
      for (const c of conns) c.close('done');
      diffs.sort((a, b) => a - b);
      const q = (p: number) =>
        Math.round((diffs[Math.min(diffs.length - 1, Math.floor(p * diffs.length))] ?? Number.NaN) * 100) / 100;
      return { frames_matched: diffs.length, min: q(0), p50: q(0.5), p95: q(0.95), p99: q(0.99), max: q(1) };
    },
  };
}

await main();
process.exit(0);
