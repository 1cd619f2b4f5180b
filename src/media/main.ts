// `vstream media`: the media container of a stream with spec.thumbnails. It reads media.json (from the ConfigMap:
// paths and the interval, no credential), watches whether the stream is live through MediaMTX's API, and while it
// is, keeps the newest keyframe as a small FLV file for the thumbnail container's ffmpeg (./keyframes.ts). The read
// credential is the per-stream internal token, read from its mounted Secret file and sent only inside the RTMP play
// command: never in an argument list, the ConfigMap or a log line.
import { readFileSync } from 'node:fs';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Logger } from 'pino';
import { getJson } from '../auth/publisher.ts';
import { createLogger } from '../log/logger.ts';
import { parseServerUrl } from './client.ts';
import { MEDIA_FILES } from './files.ts';
import { KeyframeWriter } from './keyframes.ts';

export const MediaConfigSchema = Type.Object(
  {
    path: Type.String({ minLength: 1 }),
    /** The pod's own MediaMTX RTMP(S) listener (loopback). */
    source: Type.String({ minLength: 1 }),
    sourceInsecureTls: Type.Optional(Type.Boolean()),
    /** MediaMTX's control API, asked whether the path is live. */
    api: Type.String({ minLength: 1 }),
    /** The per-stream internal token: MediaMTX's API and the sidecar's loopback read accept it. */
    apiTokenFile: Type.String({ minLength: 1 }),
    /** The shared emptyDir (trailing slash). */
    dir: Type.String({ minLength: 1 }),
    thumbnails: Type.Object({ intervalSeconds: Type.Number({ minimum: 1 }) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
export type MediaConfig = Static<typeof MediaConfigSchema>;

const firstLine = (file: string) => readFileSync(file, 'utf8').split('\n')[0]?.trim() ?? '';

export interface MediaOptions {
  config: string;
  /** Overrides for the pod runner, which maps ports: the RTMP source and the API. */
  source?: string;
  api?: string;
  log?: Logger;
  pollMs?: number;
}

export async function runMedia(opts: MediaOptions) {
  const log = opts.log ?? createLogger('media');
  const raw = JSON.parse(readFileSync(opts.config, 'utf8'));
  if (!Value.Check(MediaConfigSchema, raw)) {
    const first = [...Value.Errors(MediaConfigSchema, raw)][0];
    throw new Error(`media config ${opts.config}: ${first?.path ?? ''} ${first?.message ?? 'invalid'}`);
  }
  const cfg: MediaConfig = {
    ...raw,
    ...(opts.source ? { source: opts.source } : {}),
    ...(opts.api ? { api: opts.api } : {}),
  };
  const app = cfg.path.split('/').slice(0, -1).join('/');
  const src = parseServerUrl(`${cfg.source.replace(/\/+$/, '')}/${app}`);
  const streamName = cfg.path.split('/').at(-1)!;
  let live = false;
  // The pod-internal credential in the play command (never an argument): the sidecar allows it from loopback only.
  const playName = () => `${streamName}?token=${encodeURIComponent(firstLine(cfg.apiTokenFile))}`;
  const keyframes = new KeyframeWriter({
    endpoint: src,
    playName,
    live: () => live,
    // Beside the JPEG the thumbnail container renders from it (src/render/media.ts).
    file: `${cfg.dir}${MEDIA_FILES.keyframe}`,
    intervalMs: cfg.thumbnails.intervalSeconds * 1000,
    onError: (reason) => log.warn({ reason }, 'thumbnail keyframes: session ended; retrying'),
    ...(cfg.sourceInsecureTls ? { tls: { rejectUnauthorized: false } } : {}),
  });
  let failing = false;
  const poll = async () => {
    try {
      const res = await getJson(`${cfg.api}/v3/paths/get/${cfg.path}`, firstLine(cfg.apiTokenFile), 2_000);
      const body = res.body as { ready?: boolean; online?: boolean } | undefined;
      const now = res.status === 200 && Boolean(body?.ready ?? body?.online);
      if (failing) log.info('MediaMTX API reachable again');
      failing = false;
      if (now !== live) {
        live = now;
        log.info({ live }, live ? 'stream is live: keeping thumbnail keyframes' : 'stream went offline');
        keyframes.poke();
      }
    } catch (e) {
      if (!failing) log.warn({ error: (e as Error).message }, 'cannot ask MediaMTX whether the stream is live');
      failing = true;
    }
  };
  await poll();
  const timer = setInterval(() => void poll(), opts.pollMs ?? 1_000);
  const run = keyframes.run();
  log.info({ path: cfg.path, intervalSeconds: cfg.thumbnails.intervalSeconds }, 'media container started');
  return {
    keyframes,
    close: async () => {
      clearInterval(timer);
      keyframes.stop();
      await run;
    },
  };
}

/** runMedia, started again whenever media.json changes (kubelet swaps the ConfigMap's files): a new interval applies without a new pod. */
export async function superviseMedia(opts: MediaOptions & { checkEveryMs?: number }) {
  const log = opts.log ?? createLogger('media');
  const read = () => {
    try {
      return readFileSync(opts.config, 'utf8');
    } catch {
      return undefined;
    }
  };
  let text = read();
  let current = await runMedia({ ...opts, log });
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    const now = read();
    if (now === undefined || now === text) return;
    busy = true;
    try {
      text = now;
      log.info('media.json changed: restarting');
      await current.close();
      current = await runMedia({ ...opts, log });
    } catch (e) {
      log.error({ error: (e as Error).message }, 'cannot apply the new media.json; will retry on the next change');
    } finally {
      busy = false;
    }
  }, opts.checkEveryMs ?? 2_000);
  return {
    close: async () => {
      clearInterval(timer);
      await current.close();
    },
  };
}
