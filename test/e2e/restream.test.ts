// Restreaming end to end on the local pod runner: a LiveStream with three targets on a second, real MediaMTX (the
// "platform", on 127.0.0.1, which accepts only the one path its stream key names): one with the right key, one with a
// wrong key, one whose Secret does not exist. ffmpeg publishes to the stream; the platform receives it (ffprobe
// decodes it there), the wrong key and the missing Secret show Retrying in status with their reasons, and no
// key is anywhere it must not be: any process's arguments, the ConfigMap, status, events, the pod's logs.
// Then the targets are removed from the spec: forwarding stops without a restart, and the publisher stays on.
// Figures for the note are printed as [restream] lines (MediaMTX CPU with and without forwarding).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
import { httpGet, type Publisher, publishRtmp } from '../support/media.ts';

const c = clients();
const kube = c.kube;
const local = !['existing', 'node'].includes(inject('clusterTier'));
const GOOD_KEY = 'sk-live-7Qx9-GOODKEY-41c2';
const BAD_KEY = 'sk-live-BADKEY-0000';
let ns: string;
let runner: PodRunner;
let ctl: Awaited<ReturnType<typeof runController>> | undefined;
let platform: ReturnType<typeof spawn> | undefined;
let platformRtsp = 0;
let platformRtmp = 0;
const publishers: Publisher[] = [];
const log = (msg: string) => console.log(`[restream] ${msg}`);

beforeAll(async () => {
  if (!local) return;
  await installCrd(kube);
  ns = await freshNamespace(c.core, 'restream');
  // The platform: a MediaMTX that takes a publish only on live/<its one key>.
  platformRtmp = await freePort();
  platformRtsp = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'vstream-platform-'));
  writeFileSync(
    join(dir, 'mediamtx.yml'),
    [
      'logLevel: info',
      `rtmpAddress: 127.0.0.1:${platformRtmp}`,
      `rtspAddress: 127.0.0.1:${platformRtsp}`,
      'rtspTransports: [tcp]',
      'hls: no',
      'webrtc: no',
      'srt: no',
      'api: no',
      'metrics: no',
      'playback: no',
      'paths:',
      `  live/${GOOD_KEY}: {}`,
      '',
    ].join('\n'),
  );
  platform = spawn(toolPath('mediamtx'), [join(dir, 'mediamtx.yml')], { cwd: dir, stdio: 'ignore' });
  for (const [name, key] of [
    ['platform-key', GOOD_KEY],
    ['wrong-key', BAD_KEY],
  ] as const)
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name }, stringData: { streamKey: key } },
    });
  runner = new PodRunner(
    kube,
    mkdtempSync(join(tmpdir(), 'vstream-restream-pods-')),
    pino({ level: 'info' }, pino.destination({ dest: join(dir, 'runner.log'), sync: false })),
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
  platform?.kill('SIGKILL');
});

const restreamOf = async (name: string) =>
  (await kube.get<LiveStream>(resourcePath('vstream.io/v1alpha1', 'LiveStream', ns, name))).status?.restream ?? [];

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function ffprobe(url: string): { codec_name: string; width?: number }[] {
  const out = execFileSync(
    'ffprobe',
    ['-v', 'error', '-rtsp_transport', 'tcp', '-show_entries', 'stream=codec_name,width', '-of', 'json', url],
    { timeout: 20_000 },
  );
  return (JSON.parse(String(out)) as { streams: { codec_name: string; width?: number }[] }).streams;
}

describe.skipIf(!local)('restream (pod runner: needs a local tier)', () => {
  it('pushes the stream to a platform, reports refused and missing keys, and never shows a key', async () => {
    const target = (name: string, secret: string) => ({
      name,
      url: `rtmp://127.0.0.1:${platformRtmp}/live`,
      secretRef: { name: secret },
    });
    await createStream(kube, ns, 'show', {
      restream: [target('platform', 'platform-key'), target('wrong', 'wrong-key'), target('missing', 'no-such-secret')],
    });
    await waitPhase(kube, ns, 'show', 'Ready');
    const e = await waitUntil('pod show', async () => runner.endpoints(ns, 'show'), 60_000);
    await waitUntil(
      'sidecar ready',
      async () => (await httpGet(`http://127.0.0.1:${e.ports['auth-metrics']}/readyz`)).status === 200,
      30_000,
    );
    const s = await kube.get<{ data: { token: string } }>(resourcePath('v1', 'Secret', ns, 'show-publish'));
    const token = Buffer.from(s.data.token, 'base64').toString('utf8').split('\n')[0]!;
    const started = Date.now();
    publishers.push(publishRtmp(`rtmp://127.0.0.1:${e.ports.rtmp}/live/show?token=${token}`, 300));

    const states = await waitUntil(
      'status.restream: platform Connected, the others Retrying',
      async () => {
        const r = await restreamOf('show');
        const by = Object.fromEntries(r.map((t) => [t.name, t]));
        return by.platform?.state === 'Connected' && by.wrong?.state === 'Retrying' && by.missing?.state === 'Retrying'
          ? by
          : undefined;
      },
      90_000,
      1000,
    );
    log(`publish -> status says Connected: ${Date.now() - started} ms (live poll 2 s, sidecar look 2 s)`);
    expect(states.missing?.reason).toContain('Secret no-such-secret has no key streamKey');
    expect(states.wrong?.reason).toBeTruthy();
    log(`wrong key reason: ${states.wrong?.reason}`);

    // The platform has the stream, decodable.
    const streams = ffprobe(`rtsp://127.0.0.1:${platformRtsp}/live/${GOOD_KEY}`);
    expect(streams.map((x) => x.codec_name)).toContain('h264');
    expect(streams.find((x) => x.codec_name === 'h264')?.width).toBe(320);

    // Figures: MediaMTX's CPU while forwarding to one platform (the others fail and retry every 5 s).
    const mtxPid = e.pids.mediamtx!;
    const c0 = cpuSeconds(mtxPid);
    await new Promise((r) => setTimeout(r, 15_000));
    const withTargets = (cpuSeconds(mtxPid) - c0) / 15;

    // No key anywhere it must not be. (The platform's own files name its path, which is the key: they are left out.)
    for (const key of [GOOD_KEY, BAD_KEY]) {
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        let cmd = '';
        try {
          cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          continue;
        }
        expect(cmd.includes(key), `process ${pid} (${cmd.split('\0')[0]}) has a stream key in its arguments`).toBe(
          false,
        );
      }
      const cm = JSON.stringify(await kube.get(resourcePath('v1', 'ConfigMap', ns, 'show-mediamtx')));
      expect(cm).not.toContain(key);
      expect(JSON.stringify(await restreamOf('show'))).not.toContain(key);
      expect(
        JSON.stringify(await kube.get(resourcePath('vstream.io/v1alpha1', 'LiveStream', ns, 'show'))),
      ).not.toContain(key);
      const events = await kube.list(`/api/v1/namespaces/${ns}/events`);
      expect(JSON.stringify(events.items)).not.toContain(key);
      for (const f of readdirSync(join(e.dir, 'logs')))
        expect(readFileSync(join(e.dir, 'logs', f), 'utf8'), `log ${f}`).not.toContain(key);
      const sidecarView = await httpGet(`http://127.0.0.1:${e.ports['auth-metrics']}/restream`);
      expect(sidecarView.body).not.toContain(key);
    }
    const events = await kube.list(`/api/v1/namespaces/${ns}/events`);
    const reasons = events.items.map((ev) => (ev as { reason?: string }).reason);
    expect(reasons).toContain('RestreamConnected');
    expect(reasons).toContain('RestreamRetrying');

    // Removing the targets stops forwarding in place: the publisher stays on air, the pod is the same.
    const pid = e.pids.mediamtx;
    await kube.mergePatch(resourcePath('vstream.io/v1alpha1', 'LiveStream', ns, 'show'), { spec: { restream: null } });
    await waitUntil(
      'the platform loses the stream',
      async () => {
        try {
          ffprobe(`rtsp://127.0.0.1:${platformRtsp}/live/${GOOD_KEY}`);
          return false;
        } catch {
          return true;
        }
      },
      120_000,
      2000,
    );
    const p = publishers.at(-1)!;
    expect(p.proc.exitCode, p.output()).toBeNull();
    expect(runner.endpoints(ns, 'show')?.pids.mediamtx).toBe(pid);
    const c1 = cpuSeconds(mtxPid);
    await new Promise((r) => setTimeout(r, 15_000));
    const without = (cpuSeconds(mtxPid) - c1) / 15;
    log(
      `MediaMTX CPU: ${(withTargets * 100).toFixed(1)}% of a core forwarding to 1 target (+2 retrying), ${(without * 100).toFixed(1)}% without; per connected target ≈ ${((withTargets - without) * 100).toFixed(1)}% (320x240 25 fps 800 kb/s, -c copy)`,
    );
  });
});
