// Thumbnails end to end on the local pod runner: real MediaMTX, the real sidecar, `vstream media` (src/media/) and
// this machine's ffmpeg running the thumbnail container's loop.
//   - status.playback.thumbnail names the URL; the JPEG decodes (ffprobe) at the stream's resolution;
//   - with access jwt it is refused without a viewer JWT (401) and with one for another path (403);
//   - the pod-internal token the media container reads with is in no process's argument list, the ConfigMap or a log.
// Figures ([thumbnails] lines): CPU of the media container and the ffmpeg loop (bench/media.ts measures it too).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PodRunner } from '../../dev/pod-runner.ts';
import type { LiveStream } from '../../src/api/livestream.ts';
import type { runController } from '../../src/controller/main.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import { createStream, inProcessController, logLines, streamPath, waitPhase } from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';
import { httpGet, type Publisher, publishRtmp } from '../support/media.ts';

const c = clients();
const kube = c.kube;
const ISSUER = 'https://id.thumbs.test';
const local = !['existing', 'node'].includes(inject('clusterTier'));
let ns: string;
let runner: PodRunner;
let runnerDir: string;
let ctl: Awaited<ReturnType<typeof runController>> | undefined;
let sign: (path: string) => Promise<string>;
const publishers: Publisher[] = [];

const log = (msg: string) => console.log(`[thumbnails] ${msg}`);

beforeAll(async () => {
  if (!local) return;
  await installCrd(kube);
  ns = await freshNamespace(c.core, 'thumbs');
  const pair = await generateKeyPair('ES256', { extractable: true });
  sign = (path) =>
    new SignJWT({ 'vstream.io/paths': [path] })
      .setProtectedHeader({ alg: 'ES256', kid: 't' })
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
        'jwks.json': JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 't', alg: 'ES256' }] }),
      },
    },
  });
  runnerDir = mkdtempSync(join(tmpdir(), 'vstream-thumbs-pods-'));
  runner = new PodRunner(
    kube,
    runnerDir,
    pino({ level: 'info' }, pino.destination({ dest: join(runnerDir, 'runner.log'), sync: false })),
  );
  await runner.start();
  ctl = await inProcessController({
    probe: (n, name) => {
      const e = runner.endpoints(n, name);
      return e ? `http://127.0.0.1:${e.ports.api}` : undefined;
    },
    liveResyncMs: 2000,
  });
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  await ctl?.shutdown();
  await runner?.stop();
});

function ffprobe(input: string): { codec_name: string; width?: number; height?: number }[] {
  const out = execFileSync(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', input],
    { encoding: 'utf8', timeout: 20_000 },
  );
  return (JSON.parse(out) as { streams: { codec_name: string; width?: number; height?: number }[] }).streams;
}

/** Every log file under a directory, as text. */
function allLogs(dir: string): string {
  let out = '';
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (f.isFile() && f.name.endsWith('.log')) out += readFileSync(join(f.parentPath, f.name), 'utf8');
  return out;
}

/** Every process's argument list on this machine. */
function allCmdlines(): string {
  let out = '';
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      out += `${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')}\n`;
    } catch {}
  }
  return out;
}

/** CPU seconds of a process, with its reaped children's (the ffmpeg runs of the thumbnail loop). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(x[11]) + Number(x[12]) + Number(x[13]) + Number(x[14])) / 100;
}

describe.skipIf(!local)('thumbnails (local pod runner)', () => {
  it('serves a JPEG of the stream at its resolution behind viewer JWTs, reading with a token no argv shows', async () => {
    await createStream(kube, ns, 'th', {
      playback: { access: 'jwt', jwt: { issuer: ISSUER, keysSecretRef: { name: 'viewer-keys' } } },
      thumbnails: { enabled: true, intervalSeconds: 2 },
    });
    await waitPhase(kube, ns, 'th', 'Ready');
    const e = await waitUntil('pod th', async () => runner.endpoints(ns, 'th'), 60_000);
    await waitUntil(
      'sidecar ready',
      async () => (await httpGet(`http://127.0.0.1:${e.ports['auth-metrics']}/readyz`)).status === 200,
      30_000,
    );
    expect(e.pids.media).toBeGreaterThan(0);
    expect(e.pids.thumbnail).toBeGreaterThan(0);
    const s = await kube.get<{ data: { token: string } }>(resourcePath('v1', 'Secret', ns, 'th-publish'));
    const token = Buffer.from(s.data.token, 'base64').toString('utf8').split('\n')[0]!;
    publishers.push(publishRtmp(`rtmp://127.0.0.1:${e.ports.rtmp}/live/th?token=${token}`, 300, { size: '640x360' }));

    const ls = await waitUntil(
      'status.playback.thumbnail',
      async () => {
        const x = await kube.get<LiveStream>(streamPath(ns, 'th'));
        return x.status?.playback?.thumbnail ? x : undefined;
      },
      60_000,
      500,
    );
    expect(ls.status!.playback!.thumbnail).toMatch(/^http:\/\/.+:8880\/live\/th\/thumbnail\.jpg$/);
    const url = `http://127.0.0.1:${e.ports.thumbnail}/live/th/thumbnail.jpg`;
    expect((await httpGet(url)).status).toBe(401);
    expect((await httpGet(`${url}?jwt=${await sign('live/other')}`)).status).toBe(403);
    const jwt = await sign('live/th');
    const t0 = Date.now();
    const jpeg = await waitUntil(
      'thumbnail',
      async () => {
        const res = await fetch(url, { headers: { authorization: `Bearer ${jwt}` } });
        return res.status === 200 && Buffer.from(await res.arrayBuffer());
      },
      30_000,
      250,
    );
    const file = join(mkdtempSync(join(tmpdir(), 'vstream-thumb-')), 'thumb.jpg');
    writeFileSync(file, jpeg);
    const img = ffprobe(file);
    log(
      `first thumbnail ${Date.now() - t0} ms after the URL: ${jpeg.length} bytes, ${img[0]?.codec_name} ${img[0]?.width}x${img[0]?.height}`,
    );
    expect(img[0]).toMatchObject({ codec_name: 'mjpeg', width: 640, height: 360 });
    expect((await httpGet(`${url}?jwt=${jwt}`)).status).toBe(200);

    // Renewed: a newer JPEG within a few intervals.
    const first = readFileSync(file);
    await waitUntil(
      'a renewed thumbnail',
      async () => {
        const res = await fetch(url, { headers: { authorization: `Bearer ${jwt}` } });
        return res.status === 200 && !Buffer.from(await res.arrayBuffer()).equals(first);
      },
      15_000,
      500,
    );

    const pids = { media: e.pids.media!, thumbnail: e.pids.thumbnail! };
    const before = { media: cpuSeconds(pids.media), thumbnail: cpuSeconds(pids.thumbnail) };
    await new Promise((r) => setTimeout(r, 20_000));
    log(
      `CPU over 20 s at a 2 s interval (% of one core): media ${(((cpuSeconds(pids.media) - before.media) / 20) * 100).toFixed(2)}, ffmpeg loop ${(((cpuSeconds(pids.thumbnail) - before.thumbnail) / 20) * 100).toFixed(2)}`,
    );

    // The internal token: in no argument list, the ConfigMap or a log.
    const internal = await kube.get<{ data: Record<string, string> }>(resourcePath('v1', 'Secret', ns, 'th-internal'));
    const apiToken = Buffer.from(internal.data['api-token']!, 'base64').toString('utf8').trim();
    expect(apiToken.length).toBeGreaterThan(16);
    const cm = await kube.get<{ data: Record<string, string> }>(resourcePath('v1', 'ConfigMap', ns, 'th-mediamtx'));
    const places: Record<string, string> = {
      'process argument lists': allCmdlines(),
      ConfigMap: JSON.stringify(cm.data),
      'controller log': logLines.join('\n'),
      'pod logs': allLogs(runnerDir),
    };
    expect(cm.data['media.json']).toContain('thumbnails');
    for (const [where, text] of Object.entries(places)) {
      expect(text.length, where).toBeGreaterThan(0);
      expect(text.includes(apiToken), `the internal token in ${where}`).toBe(false);
    }
  });
});
