// Real media: ffmpeg publishing a test pattern, and an HLS client that waits for a playable playlist.
import { type ChildProcess, spawn } from 'node:child_process';
import { type Dispatcher, fetch } from 'undici';

export interface Publisher {
  proc: ChildProcess;
  startedAt: number;
  output: () => string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * ffmpeg -re with a synthetic source: x264 + AAC over RTMP(S), or over SRT for an srt:// URL (a keyframe every second
 * keeps segments short).
 */
export function publishRtmp(
  url: string,
  seconds = 120,
  opts: { size?: string; bitrate?: string; audio?: { sampleRate: number; channels: number } } = {},
): Publisher {
  const proc = spawn(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'warning',
      '-re',
      '-f',
      'lavfi',
      '-i',
      `testsrc=size=${opts.size ?? '320x240'}:rate=25:duration=${seconds}`,
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=440:duration=${seconds}${opts.audio ? `:sample_rate=${opts.audio.sampleRate}` : ''}`,
      ...(opts.audio ? ['-ac', String(opts.audio.channels)] : []),
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-tune',
      'zerolatency',
      '-g',
      '25',
      '-pix_fmt',
      'yuv420p',
      ...(opts.bitrate ? ['-b:v', opts.bitrate, '-maxrate', opts.bitrate, '-bufsize', opts.bitrate] : []),
      '-c:a',
      'aac',
      '-b:a',
      '64k',
      '-f',
      // SRT carries MPEG-TS; RTMP(S) carries FLV.
      url.startsWith('srt:') ? 'mpegts' : 'flv',
      url,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  proc.stderr?.on('data', (d) => {
    err += String(d);
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    startedAt: Date.now(),
    output: () => err,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGINT');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

export async function httpGet(url: string, headers: Record<string, string> = {}, dispatcher?: Dispatcher) {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000), ...(dispatcher ? { dispatcher } : {}) });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/**
 * Polls until the multivariant playlist and a media playlist with at least one segment are served: the moment a
 * player could start. Returns the time it took from `since`.
 */
export async function waitPlayable(
  base: string,
  path: string,
  headers: Record<string, string>,
  since: number,
  timeoutMs = 60_000,
  dispatcher?: Dispatcher,
) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const index = await httpGet(`${base}/${path}/index.m3u8`, headers, dispatcher);
      last = `index ${index.status}`;
      if (index.status === 200) {
        const media = index.body.split('\n').find((l) => l && !l.startsWith('#'));
        if (media) {
          const m = await httpGet(`${base}/${path}/${media}`, headers, dispatcher);
          last = `media ${m.status}`;
          if (m.status === 200 && m.body.includes('#EXTINF'))
            return { ms: Date.now() - since, index: index.body, media: m.body };
        }
      }
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no playable HLS for ${path} after ${timeoutMs}ms (last: ${last})`);
}
