// WHIP ingest end to end on the local pod runner, with a real WebRTC publisher: MediaMTX's own WHIP client (pion),
// run as a second MediaMTX that forwards an ffmpeg test pattern to the stream's WHIP endpoint with the publish token
// as its Bearer token (what OBS ≥ 30 does). The stream goes live over WebRTC/ICE, plays as HLS (ffprobe decodes
// it), and a WHIP publisher with a wrong token is refused. This machine's ffmpeg 5.1 has no WHIP muxer, hence the
// relay. Figures for the note are printed as [whip] lines.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../dev/cluster.ts';
import { PodRunner } from '../../dev/pod-runner.ts';
import { toolPath } from '../../dev/tools.ts';
import type { LiveStream } from '../../src/api/livestream.ts';
import type { runController } from '../../src/controller/main.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import { createStream, inProcessController, waitPhase } from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';
import { httpGet, waitPlayable } from '../support/media.ts';

const c = clients();
const kube = c.kube;
const local = !['existing', 'node'].includes(inject('clusterTier'));
let ns: string;
let runner: PodRunner;
let ctl: Awaited<ReturnType<typeof runController>> | undefined;
const procs: ReturnType<typeof spawn>[] = [];
const log = (msg: string) => console.log(`[whip] ${msg}`);

beforeAll(async () => {
  if (!local) return;
  await installCrd(kube);
  ns = await freshNamespace(c.core, 'whip');
  runner = new PodRunner(
    kube,
    mkdtempSync(join(tmpdir(), 'vstream-whip-pods-')),
    pino({ level: 'warn' }, pino.destination({ dest: join(tmpdir(), 'vstream-whip-runner.log'), sync: false })),
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
  for (const p of procs) p.kill('SIGKILL');
  await ctl?.shutdown();
  await runner?.stop();
});

const statusOf = async (name: string) =>
  (await kube.get<LiveStream>(resourcePath('vstream.io/v1alpha1', 'LiveStream', ns, name))).status;

async function tokenOf(name: string): Promise<string> {
  const s = await kube.get<{ data: { token: string } }>(resourcePath('v1', 'Secret', ns, `${name}-publish`));
  return Buffer.from(s.data.token, 'base64').toString('utf8').split('\n')[0]!;
}

describe.skipIf(!local)('WHIP ingest (pod runner: needs a local tier)', () => {
  it('goes live from a real WHIP publisher with the publish token as Bearer, refuses a wrong one', async () => {
    for (const name of ['whipin', 'whipbad'])
      await createStream(kube, ns, name, { ingest: { protocols: ['webrtc'] }, playback: { protocols: ['hls'] } });
    const [good, bad] = await Promise.all(
      ['whipin', 'whipbad'].map(async (name) => {
        await waitPhase(kube, ns, name, 'Ready');
        return waitUntil(`pod ${name}`, async () => runner.endpoints(ns, name), 60_000);
      }),
    );
    const st = await statusOf('whipin');
    expect(st?.ingest?.webrtc).toMatch(/\/live\/whipin\/whip$/);

    // The publisher: a plain MediaMTX that takes ffmpeg's RTMP and forwards it over WHIP (video only: WebRTC has
    // no AAC, and MediaMTX would skip the track).
    const dir = mkdtempSync(join(tmpdir(), 'vstream-whip-src-'));
    const rtmp = await freePort();
    const api = await freePort();
    writeFileSync(
      join(dir, 'source.yml'),
      [
        'logLevel: info',
        'authMethod: internal',
        'api: true',
        `apiAddress: 127.0.0.1:${api}`,
        `rtmpAddress: 127.0.0.1:${rtmp}`,
        'rtsp: false',
        'hls: false',
        'webrtc: false',
        'srt: false',
        'moq: false',
        'playback: false',
        'paths:',
        '  cam:',
        '    forward:',
        `      - dest: whip://127.0.0.1:${good!.ports.webrtc}/live/whipin/whip`,
        `        whipBearerToken: "${await tokenOf('whipin')}"`,
        `      - dest: whip://127.0.0.1:${bad!.ports.webrtc}/live/whipbad/whip`,
        '        whipBearerToken: "not-the-token"',
        '',
      ].join('\n'),
    );
    procs.push(spawn(toolPath('mediamtx'), [join(dir, 'source.yml')], { cwd: dir, stdio: 'ignore' }));
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    procs.push(
      spawn(
        'ffmpeg',
        [
          ...['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25'],
          ...['-an', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25'],
          ...['-bf', '0', '-pix_fmt', 'yuv420p', '-f', 'flv', `rtmp://127.0.0.1:${rtmp}/cam`],
        ],
        { stdio: 'ignore' },
      ),
    );

    await waitUntil('whipin live', async () => (await statusOf('whipin'))?.live === true, 60_000, 250);
    log(`RTMP into the relay -> status.live over WHIP: ${Date.now() - started} ms (live poll 1 s)`);
    const hls = await waitPlayable(`http://127.0.0.1:${good!.ports.hls}`, 'live/whipin', {}, started, 60_000);
    log(`RTMP into the relay -> HLS playable: ${hls.ms} ms`);
    const probe = JSON.parse(
      String(
        execFileSync(
          'ffprobe',
          ...[
            [
              '-v',
              'error',
              '-show_entries',
              'stream=codec_name,width',
              '-of',
              'json',
              `http://127.0.0.1:${good!.ports.hls}/live/whipin/index.m3u8`,
            ],
          ],
          { timeout: 30_000 },
        ),
      ),
    ) as { streams: { codec_name: string; width?: number }[] };
    expect(probe.streams.find((s) => s.codec_name === 'h264')?.width).toBe(320);

    // The wrong Bearer token: the relay's destination fails, the stream never goes live.
    const fwd = await waitUntil(
      'the wrong-token destination fails',
      async () => {
        const r = await httpGet(`http://127.0.0.1:${api}/v3/paths/forward/list?path=cam`);
        const items =
          r.status === 200
            ? (JSON.parse(r.body) as { items: { conf: { dest: string }; state: string; lastError: string }[] }).items
            : [];
        return items.find((i) => i.conf.dest.includes('whipbad') && i.state === 'error');
      },
      30_000,
      500,
    );
    log(`wrong token: ${fwd.lastError}`);
    expect(fwd.lastError).toMatch(/401|403|status code/);
    expect((await statusOf('whipbad'))?.live).not.toBe(true);
  });
});
