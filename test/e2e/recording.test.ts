// Recordings end to end on the local pod runner: real MediaMTX, the real sidecar (with src/recording/), ffmpeg.
// Record, list and play a range through the playback server behind the sidecar; the size cap under a continuous
// publish; age retention; a volume that fills up (a real tmpfs of a few MiB: needs root, skipped with the reason
// otherwise) with a live publisher and a live viewer; deleting the LiveStream under Retain keeps every byte.
// Figures for the note are printed as [recording] lines.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import pino from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PodRunner } from '../../dev/pod-runner.ts';
import type { LiveStream } from '../../src/api/livestream.ts';
import type { runController } from '../../src/controller/main.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import type { RecordingStatus } from '../../src/recording/runner.ts';
import { createStream, inProcessController, streamPath, waitPhase } from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';
import { httpGet, type Publisher, publishRtmp } from '../support/media.ts';

const c = clients();
const kube = c.kube;
const ISSUER = 'https://id.rec.test';
const local = !['existing', 'node'].includes(inject('clusterTier'));
const root = process.getuid?.() === 0;
let ns: string;
let runner: PodRunner;
let ctl: Awaited<ReturnType<typeof runController>> | undefined;
let sign: (path: string) => Promise<string>;
const publishers: Publisher[] = [];
const mounts: string[] = [];

const log = (msg: string) => console.log(`[recording] ${msg}`);

beforeAll(async () => {
  if (!local) return;
  await installCrd(kube);
  ns = await freshNamespace(c.core, 'rec');
  const pair = await generateKeyPair('ES256', { extractable: true });
  sign = (path) =>
    new SignJWT({ 'vstream.io/paths': [path] })
      .setProtectedHeader({ alg: 'ES256', kid: 'rec' })
      .setIssuer(ISSUER)
      .setAudience('vstream')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(pair.privateKey);
  await c.core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 'viewer-keys' },
      stringData: {
        'jwks.json': JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'rec', alg: 'ES256' }] }),
      },
    },
  });
  const logDir = mkdtempSync(join(tmpdir(), 'vstream-rec-log-'));
  runner = new PodRunner(
    kube,
    mkdtempSync(join(tmpdir(), 'vstream-rec-pods-')),
    pino({ level: 'info' }, pino.destination({ dest: join(logDir, 'runner.log'), sync: false })),
  );
  await runner.start();
  ctl = await inProcessController({
    probe: (n, name) => {
      const e = runner.endpoints(n, name);
      return e ? `http://127.0.0.1:${e.ports.api}` : undefined;
    },
    recordingLocator: (n, name) => {
      const e = runner.endpoints(n, name);
      return e ? `http://127.0.0.1:${e.ports['auth-metrics']}` : undefined;
    },
    liveResyncMs: 2000,
  });
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  await ctl?.shutdown();
  await runner?.stop();
  for (const m of mounts) spawnSyncQuiet('umount', ['-l', m]);
});

function spawnSyncQuiet(cmd: string, args: string[]) {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function up(name: string) {
  const ls = await waitPhase(kube, ns, name, 'Ready');
  let e = await waitUntil(`pod ${name}`, async () => runner.endpoints(ns, name), 60_000);
  await waitUntil(
    `${name} sidecar and MediaMTX`,
    async () => {
      // The pod as it runs now: one the runner restarted (a changed template) has new ports.
      e = runner.endpoints(ns, name) ?? e;
      return (
        (await httpGet(`http://127.0.0.1:${e.ports['auth-metrics']}/readyz`)).status === 200 &&
        (await httpGet(`http://127.0.0.1:${e.ports.metrics}/metrics`)).status === 200
      );
    },
    // 30 s ran out once in a full CI run while both processes were up and listening (their logs); 60 s as for the pod.
    60_000,
  );
  return { ls, e };
}

async function publish(name: string, port: number, bitrate = '800k', seconds = 300, size?: string) {
  const s = await kube.get<{ data: { token: string } }>(resourcePath('v1', 'Secret', ns, `${name}-publish`));
  const token = Buffer.from(s.data.token, 'base64').toString('utf8').split('\n')[0]!;
  const p = publishRtmp(`rtmp://127.0.0.1:${port}/live/${name}?token=${token}`, seconds, {
    bitrate,
    ...(size ? { size } : {}),
  });
  publishers.push(p);
  return p;
}

const recStatus = async (e: { ports: Record<string, number> }) =>
  JSON.parse((await httpGet(`http://127.0.0.1:${e.ports['auth-metrics']}/recording`)).body) as RecordingStatus;

/** Segment files of a path on the volume: name -> size. */
function segments(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.mp4')) continue;
    // Retention may delete a segment between the listing and the stat: it is simply gone.
    const st = statSync(join(dir, f), { throwIfNoEntry: false });
    if (st) out.set(f, st.size);
  }
  return out;
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe.skipIf(!local)('recordings (local pod runner)', () => {
  it('records, lists and plays a recorded range through the playback server, behind viewer JWTs', async () => {
    await createStream(kube, ns, 'rec', {
      playback: { access: 'jwt', jwt: { issuer: ISSUER, keysSecretRef: { name: 'viewer-keys' } } },
      recording: { enabled: true, segmentDuration: '4s', retention: '0s' },
    });
    const { e } = await up('rec');
    const pub = await publish('rec', e.ports.rtmp!);
    const base = `http://127.0.0.1:${e.ports.playback}`;
    const auth = { authorization: `Bearer ${await sign('live/rec')}` };
    type Range = { start: string; duration: number };
    const ranges = await waitUntil(
      '12 s recorded',
      async () => {
        const r = await httpGet(`${base}/list?path=live/rec`, auth);
        const list = r.status === 200 ? (JSON.parse(r.body) as Range[]) : [];
        return list.length > 0 && list.reduce((n, x) => n + x.duration, 0) >= 12 && list;
      },
      60_000,
      500,
    );
    expect((await httpGet(`${base}/list?path=live/rec`)).status).toBe(401);
    expect(
      (await httpGet(`${base}/list?path=live/rec`, { authorization: `Bearer ${await sign('live/x')}` })).status,
    ).toBe(401);
    // ?jwt= as `kubectl vstream recordings url` prints it, for players that cannot send headers.
    expect((await httpGet(`${base}/list?path=live/rec&jwt=${await sign('live/rec')}`)).status).toBe(200);
    // 6 s from 2 s after the start: a range across segment boundaries.
    const start = new Date(Date.parse(ranges[0]!.start) + 2000).toISOString();
    const t0 = performance.now();
    const res = await request(`${base}/get?path=live/rec&start=${encodeURIComponent(start)}&duration=6&format=fmp4`, {
      headers: auth,
    });
    let ttfb = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) {
      if (!ttfb) ttfb = performance.now() - t0;
      chunks.push(chunk as Buffer);
    }
    expect(res.statusCode).toBe(200);
    const file = join(mkdtempSync(join(tmpdir(), 'vstream-rec-get-')), 'range.mp4');
    writeFileSync(file, Buffer.concat(chunks));
    const probe = JSON.parse(
      execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'json', file], {
        encoding: 'utf8',
      }),
    ) as { format: { duration: string } };
    const decoded = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { encoding: 'utf8' });
    log(
      `playback /get of a 6 s range: ${Buffer.concat(chunks).length} bytes, TTFB ${ttfb.toFixed(1)} ms, duration ${probe.format.duration}s`,
    );
    expect(decoded.trim()).toBe('');
    // One GOP is 1 s (-g 25 at 25 fps).
    expect(Math.abs(Number(probe.format.duration) - 6)).toBeLessThanOrEqual(1);
    // The sidecar's status: segments, bytes, times.
    const st = await recStatus(e);
    expect(st.segments).toBeGreaterThan(0);
    expect(st.usedBytes).toBeGreaterThan(0);
    expect(st.paused).toBe(false);
    expect(Date.parse(st.oldest!)).toBeLessThan(Date.parse(st.newest!));
    // The controller copies the figures into status (once at first, then rarely) with the playback URL.
    const ls = await waitUntil(
      'status.recording figures',
      async () => {
        const x = await kube.get<LiveStream>(streamPath(ns, 'rec'));
        return x.status?.recording?.usedBytes !== undefined && x;
      },
      60_000,
      500,
    );
    expect(ls.status?.recording?.playbackURL).toBe(`http://rec.${ns}.svc:9996`);
    expect(ls.status?.conditions?.find((x) => x.type === 'RecordingHealthy')).toMatchObject({ status: 'True' });
    await pub.stop();
  });

  it('answers a 1-hour range request over 900 segment files with its first byte quickly', async () => {
    // An hour of segment files without waiting an hour: one complete recorded segment, copied under the names of 900
    // consecutive 4 s segments a day earlier (MediaMTX reads a segment's start from its name). MediaMTX 1.20.1 does
    // not join these copies into one range (their embedded segment metadata is not a continuous recording), so
    // this measures finding the range among 900 files and the first byte, not an hour of bytes.
    const dir = join(runner.pvcDir(ns, 'rec-recordings'), 'live/rec');
    const files = [...segments(dir).keys()].sort();
    const sample = files[1]!;
    const e = runner.endpoints(ns, 'rec')!;
    const base = `http://127.0.0.1:${e.ports.playback}`;
    const auth = { authorization: `Bearer ${await sign('live/rec')}` };
    const segSeconds = 4;
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const name = (ms: number) =>
      `${new Date(ms).toISOString().slice(0, 19).replace('T', '_').replace(/:/g, '-')}-000000.mp4`;
    const { copyFileSync } = await import('node:fs');
    for (let i = 0; i < 900; i++) copyFileSync(join(dir, sample), join(dir, name(t0 + i * segSeconds * 1000)));
    const t = performance.now();
    const res = await request(`${base}/get?path=live/rec&start=2026-01-01T00:00:00Z&duration=3600&format=fmp4`, {
      headers: auth,
    });
    let ttfb = 0;
    let bytes = 0;
    for await (const chunk of res.body) {
      if (!ttfb) ttfb = performance.now() - t;
      bytes += (chunk as Buffer).length;
    }
    const total = performance.now() - t;
    log(
      `playback /get of a 1-hour range over 900 segment files: status ${res.statusCode}, TTFB ${ttfb.toFixed(1)} ms, ${bytes} bytes in ${total.toFixed(0)} ms`,
    );
    expect(res.statusCode).toBe(200);
    expect(ttfb).toBeLessThan(2_000);
    for (let i = 0; i < 900; i++) unlinkSync(join(dir, name(t0 + i * segSeconds * 1000)));
  });

  it('keeps recordings under spec.recording.maxSize while a publisher writes continuously', async () => {
    const cap = 1536 * 1024;
    await createStream(kube, ns, 'cap', {
      recording: { enabled: true, segmentDuration: '1s', retention: '0s', maxSize: '1536Ki' },
    });
    const { e } = await up('cap');
    const dir = join(runner.pvcDir(ns, 'cap-recordings'), 'live/cap');
    const pub = await publish('cap', e.ports.rtmp!, '1000k', 300, '640x360');
    const written = new Map<string, number>();
    let overSince: number | undefined;
    let worstOver = 0;
    let maxOnDisk = 0;
    const until = Date.now() + 40_000;
    while (Date.now() < until) {
      const now = segments(dir);
      for (const [f, s] of now) written.set(f, Math.max(s, written.get(f) ?? 0));
      const onDisk = sum(now);
      maxOnDisk = Math.max(maxOnDisk, onDisk);
      if (onDisk > cap) overSince ??= Date.now();
      else if (overSince !== undefined) {
        worstOver = Math.max(worstOver, Date.now() - overSince);
        overSince = undefined;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const totalWritten = sum(written);
    const onDisk = sum(segments(dir));
    const st = await recStatus(e);
    log(
      `size cap ${cap} B under a 1 Mb/s publish for 40 s: written ${totalWritten} B, on disk ${onDisk} B (max seen ${maxOnDisk} B), longest over the cap ${worstOver} ms, deleted ${JSON.stringify(st.deleted)}`,
    );
    expect(pub.proc.exitCode).toBeNull();
    expect(totalWritten).toBeGreaterThan(1.5 * cap);
    expect(st.deleted.size).toBeGreaterThan(0);
    // One pass every 5 s: at most a pass interval of writing above the cap, then back under it.
    expect(onDisk).toBeLessThanOrEqual(cap + 6 * 125_000);
    expect(worstOver).toBeLessThanOrEqual(7_000);
    await pub.stop();
  });

  it('deletes segments older than spec.recording.retention', async () => {
    await createStream(kube, ns, 'age', { recording: { enabled: true, segmentDuration: '1s', retention: '3s' } });
    const { e } = await up('age');
    const dir = join(runner.pvcDir(ns, 'age-recordings'), 'live/age');
    const pub = await publish('age', e.ports.rtmp!, '300k');
    await waitUntil('age deletions', async () => (await recStatus(e)).deleted.age >= 5, 60_000, 500);
    const oldest = Math.min(...[...segments(dir).keys()].map((f) => statSync(join(dir, f)).mtimeMs));
    const age = Date.now() - oldest;
    log(`age retention 3s: oldest segment last written ${age} ms ago`);
    // retention + one pass interval + a segment
    expect(age).toBeLessThanOrEqual(3_000 + 5_000 + 1_500);
    await pub.stop();
  });

  it('grows spec.recording.storage.size where it can, and says why where it cannot', async () => {
    // The pod runner's volumes are static hostPath PersistentVolumes without a StorageClass: not expandable.
    await kube.mergePatch(streamPath(ns, 'age'), { spec: { recording: { storage: { size: '20Gi' } } } });
    const cond = await waitUntil(
      'Reconciled=False VolumeExpansionUnsupported',
      async () =>
        (await kube.get<LiveStream>(streamPath(ns, 'age'))).status?.conditions?.find(
          (x) => x.type === 'Reconciled' && x.reason === 'VolumeExpansionUnsupported',
        ),
      60_000,
      500,
    );
    log(`growth refused: ${cond.message}`);
    expect(cond.status).toBe('False');
    expect(cond.message).toContain('spec.recording.storage.size');
    // Shrinking is refused by validation.
    await expect(
      kube.mergePatch(streamPath(ns, 'age'), { spec: { recording: { storage: { size: '1Gi' } } } }),
    ).rejects.toThrow(/may grow but not shrink/);
  });

  it.skipIf(!root)(
    'pauses recording on a full volume without dropping the publisher or a viewer, and resumes',
    async () => {
      // The claim's directory becomes a 4 MiB tmpfs before the pod starts.
      const volume = runner.pvcDir(ns, 'full-recordings');
      mkdirSync(volume, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', volume]);
      mounts.push(volume);
      await createStream(kube, ns, 'full', {
        recording: { enabled: true, segmentDuration: '2s', retention: '0s', storage: { size: '4Mi' } },
      });
      const { e } = await up('full');
      const pub = await publish('full', e.ports.rtmp!, '1000k', 300, '640x360');
      // A viewer for the whole test: ffmpeg reading HLS; any error it prints counts.
      await waitUntil(
        'HLS',
        async () => (await httpGet(`http://127.0.0.1:${e.ports.hls}/live/full/index.m3u8`)).status === 200,
        30_000,
        250,
      );
      const viewer = spawn(
        'ffmpeg',
        [
          '-hide_banner',
          '-loglevel',
          'error',
          '-i',
          `http://127.0.0.1:${e.ports.hls}/live/full/index.m3u8`,
          '-f',
          'null',
          '-',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let viewerErrors = '';
      viewer.stderr.on('data', (d) => {
        viewerErrors += String(d);
      });
      try {
        const t0 = Date.now();
        const paused = await waitUntil(
          'paused',
          async () => (await recStatus(e)).paused && (await recStatus(e)),
          90_000,
          500,
        );
        log(`4 MiB volume full after ${Date.now() - t0} ms at 1 Mb/s: paused with ${paused.freeBytes} B free`);
        expect(paused.reason).toBe('VolumeFull');
        // Condition and Warning event, from the controller's live loop (it asks the sidecar every 30 s).
        await waitUntil(
          'RecordingHealthy=False VolumeFull',
          async () =>
            (await kube.get<LiveStream>(streamPath(ns, 'full'))).status?.conditions?.find(
              (x) => x.type === 'RecordingHealthy' && x.status === 'False' && x.reason === 'VolumeFull',
            ),
          60_000,
          500,
        );
        const events = (await kube.list(`/apis/events.k8s.io/v1/namespaces/${ns}/events`)) as unknown as {
          items: { reason?: string; type?: string }[];
        };
        expect(events.items.some((x) => x.reason === 'VolumeFull' && x.type === 'Warning')).toBe(true);
        const dir = join(volume, 'live/full');
        const before = segments(dir);
        // Paused means paused: nothing grows for a few seconds.
        await new Promise((r) => setTimeout(r, 5_000));
        expect(sum(segments(dir))).toBeLessThanOrEqual(sum(before));
        // Space returns (a user deletes recordings): recording resumes by itself.
        for (const f of [...before.keys()].sort().slice(0, Math.ceil(before.size * 0.8))) unlinkSync(join(dir, f));
        const t1 = Date.now();
        await waitUntil('resumed', async () => !(await recStatus(e)).paused, 30_000, 250);
        const resumedIn = Date.now() - t1;
        const after = sum(segments(dir));
        await waitUntil('writing again', async () => sum(segments(dir)) > after, 20_000, 250);
        log(
          `space freed -> recording resumed in ${resumedIn} ms; publisher exit ${pub.proc.exitCode}, viewer errors ${viewerErrors.length ? viewerErrors : 'none'}`,
        );
        expect(pub.proc.exitCode).toBeNull();
        expect(viewer.exitCode).toBeNull();
        expect(viewerErrors).toBe('');
        // MediaMTX never saw the publisher leave.
        const mtxLog = (await import('node:fs')).readFileSync(
          join(runner.endpoints(ns, 'full')!.dir, 'logs', 'mediamtx.log'),
          'utf8',
        );
        expect(mtxLog).not.toMatch(/rtmp.*closed/i);
      } finally {
        viewer.kill('SIGKILL');
        await pub.stop();
      }
    },
  );

  it('keeps every recorded byte when the LiveStream is deleted (Retain)', async () => {
    const dir = join(runner.pvcDir(ns, 'rec-recordings'), 'live/rec');
    const before = segments(dir);
    expect(before.size).toBeGreaterThan(0);
    await kube.delete(streamPath(ns, 'rec'));
    await waitUntil('pod stopped', async () => !runner.endpoints(ns, 'rec'), 120_000);
    await waitUntil(
      'LiveStream gone',
      async () => !(await kube.getOrUndefined<LiveStream>(streamPath(ns, 'rec'))),
      60_000,
    );
    expect(segments(dir)).toEqual(before);
    const pvcs = await kube.list(`/api/v1/namespaces/${ns}/persistentvolumeclaims`);
    expect(pvcs.items.map((p) => p.metadata.name)).toContain('rec-recordings');
  });
});

if (!root) console.log('[recording] full-disk test skipped: mounting a tmpfs needs root');
