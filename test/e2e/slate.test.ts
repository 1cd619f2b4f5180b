// spec.ingest.offlineSlate end to end on the local pod runner (real MediaMTX, sidecar, ffmpeg): an HLS viewer's
// playlist keeps moving while the streamer is gone (kill -9 of ffmpeg), the streamer comes back with the same token
// and settings, and an encoder with other audio settings is refused (what the field's description warns about).
// Figures for the note are printed as [slate] lines.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PodRunner } from '../../dev/pod-runner.ts';
import type { LiveStream } from '../../src/api/livestream.ts';
import type { runController } from '../../src/controller/main.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import { createStream, inProcessController, waitPhase } from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';
import { httpGet, type Publisher, publishRtmp, waitPlayable } from '../support/media.ts';

const c = clients();
const kube = c.kube;
const local = !['existing', 'node'].includes(inject('clusterTier'));
let ns: string;
let runner: PodRunner;
let ctl: Awaited<ReturnType<typeof runController>> | undefined;
const publishers: Publisher[] = [];
const log = (msg: string) => console.log(`[slate] ${msg}`);

beforeAll(async () => {
  if (!local) return;
  await installCrd(kube);
  ns = await freshNamespace(c.core, 'slate');
  runner = new PodRunner(
    kube,
    mkdtempSync(join(tmpdir(), 'vstream-slate-pods-')),
    pino({ level: 'warn' }, pino.destination({ dest: join(tmpdir(), 'vstream-slate-runner.log'), sync: false })),
  );
  await runner.start();
  ctl = await inProcessController({
    probe: (n, name) => {
      const e = runner.endpoints(n, name);
      return e ? `http://127.0.0.1:${e.ports.api}` : undefined;
    },
    liveResyncMs: 1000,
  });
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  await ctl?.shutdown();
  await runner?.stop();
});

/** The media sequence number of the first media playlist: it moves only while segments are produced. */
async function mediaSequence(base: string): Promise<number> {
  const index = await httpGet(`${base}/index.m3u8`);
  const media = index.body.split('\n').find((l) => l && !l.startsWith('#'));
  const m = await httpGet(`${base}/${media}`);
  return Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(m.body)?.[1] ?? Number.NaN);
}

const liveOf = async (name: string) =>
  (await kube.get<LiveStream>(resourcePath('vstream.io/v1alpha1', 'LiveStream', ns, name))).status?.live;

describe.skipIf(!local)('offline slate (pod runner: needs a local tier)', () => {
  it('keeps the viewer’s playlist moving through a drop, takes the streamer back, refuses other audio', async () => {
    // publishRtmp's encoder: H.264 and AAC from a lavfi sine, which is 44.1 kHz mono.
    await createStream(kube, ns, 'slate', {
      ingest: { offlineSlate: { video: 'H264', audio: { codec: 'AAC', sampleRate: 44100, channels: 1 } } },
    });
    await waitPhase(kube, ns, 'slate', 'Ready');
    const e = await waitUntil('pod slate', async () => runner.endpoints(ns, 'slate'), 60_000);
    const s = await kube.get<{ data: { token: string } }>(resourcePath('v1', 'Secret', ns, 'slate-publish'));
    const token = Buffer.from(s.data.token, 'base64').toString('utf8').split('\n')[0]!;
    const url = `rtmp://127.0.0.1:${e.ports.rtmp}/live/slate?token=${token}`;
    const hls = `http://127.0.0.1:${e.ports.hls}/live/slate`;

    // Before anyone publishes, the slate already plays.
    const before = await waitPlayable(`http://127.0.0.1:${e.ports.hls}`, 'live/slate', {}, Date.now(), 60_000);
    log(`slate playable with no publisher after ${before.ms} ms of polling`);

    const first = publishRtmp(url, 300);
    publishers.push(first);
    await waitUntil('live', async () => (await liveOf('slate')) === true, 30_000, 500);

    // The streamer drops hard; the viewer's playlist keeps producing segments through the gap.
    first.proc.kill('SIGKILL');
    const s0 = await mediaSequence(hls);
    await new Promise((r) => setTimeout(r, 6000));
    const s1 = await mediaSequence(hls);
    log(`media sequence ${s0} -> ${s1} over 6 s without a publisher`);
    expect(s1).toBeGreaterThan(s0);

    // Back with the same token and settings: accepted, live again.
    const back = publishRtmp(url, 300);
    publishers.push(back);
    const t = Date.now();
    // MediaMTX logs each publisher it takes: the second one is the streamer back.
    const publishes = () => (runnerLog(e.dir).match(/is publishing to path 'live\/slate'/g) ?? []).length;
    await waitUntil('MediaMTX takes the publisher again', async () => publishes() >= 2, 30_000, 100);
    log(`reconnect accepted after ${Date.now() - t} ms`);
    expect(back.proc.exitCode).toBeNull();
    await back.stop();

    // An encoder with other audio (stereo 48 kHz, as OBS defaults to) is refused while the slate expects mono 44.1.
    const stereo = publishRtmp(url, 30, { audio: { sampleRate: 48000, channels: 2 } });
    publishers.push(stereo);
    const code = await Promise.race([stereo.exited, new Promise((r) => setTimeout(() => r('running'), 15_000))]);
    const mtxLog = runnerLog(e.dir);
    expect(mtxLog).toMatch(/MPEG-4 audio configuration does not match|wants to publish/);
    log(`stereo 48 kHz publisher: ${code === 'running' ? 'still running (not on air)' : `exited ${String(code)}`}`);
    // Not on air: once the grace period for the previous publisher has run out, the stream reads offline.
    await waitUntil('offline', async () => (await liveOf('slate')) === false, 40_000, 1000);
    expect(publishes()).toBe(2);
  });
});

function runnerLog(dir: string): string {
  return readFileSync(join(dir, 'logs', 'mediamtx.log'), 'utf8');
}
