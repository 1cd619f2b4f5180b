// A streamer's view of a LiveStream on the node tier: find the Service, take the token from the generated Secret,
// publish with ffmpeg over RTMP through the Service's ClusterIP (relayed from the host's 127.0.0.1 into the node),
// and see MediaMTX accept it. Used by the node tests and by bench/node.ts (no vitest imports here).
import type { LiveStream } from '../../src/api/livestream.ts';
import { type Kube, resourcePath } from '../../src/kube/rest.ts';
import { MEDIAMTX_METRICS_PORT } from '../../src/render/ports.ts';
import { httpGet, type Publisher, publishRtmp } from './media.ts';
import { waitUntil } from './wait.ts';

export type Forward = (host: string, port: number) => Promise<number>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** waitUntil polling every 100 ms (the ingest path is timed, so it looks often). */
export const until = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 100) =>
  waitUntil(what, fn, timeoutMs, everyMs);

export async function publishToken(kube: Kube, ns: string, name: string): Promise<string> {
  const s = await kube.get<{ data: { token: string } }>(resourcePath('v1', 'Secret', ns, `${name}-publish`));
  return Buffer.from(s.data.token, 'base64').toString('utf8').split('\n')[0]!;
}

export async function clusterIP(kube: Kube, ns: string, service: string): Promise<string> {
  const svc = await kube.get<{ spec: { clusterIP: string } }>(resourcePath('v1', 'Service', ns, service));
  return svc.spec.clusterIP;
}

/** The stream's path is published on MediaMTX (its metrics say so, read through the <name>-metrics Service). */
export async function pathReady(forward: Forward, kube: Kube, ns: string, name: string, path: string) {
  const port = await forward(await clusterIP(kube, ns, `${name}-metrics`), MEDIAMTX_METRICS_PORT);
  const ready = `paths{name="${path}",state="ready"} 1`;
  return async () => (await httpGet(`http://127.0.0.1:${port}/metrics`)).body.includes(ready);
}

export interface Ingest {
  publisher: Publisher;
  /** rtmp://127.0.0.1:<port>/<app>/<key>?token=... (the Service's RTMP port, relayed). */
  url: string;
  path: string;
  /** ms from `since` until MediaMTX had the path ready. */
  ms: number;
  /** ffmpeg attempts (the first ones fail while the pod is not Ready yet). */
  attempts: number;
}

/**
 * Publishes to a LiveStream through its Service as soon as it can: ffmpeg is (re)started until MediaMTX has the path
 * ready, as a streamer's OBS would retry. Returns when the publish was accepted.
 */
export async function publishWhenReady(
  kube: Kube,
  forward: Forward,
  ns: string,
  name: string,
  opts: { since: number; timeoutMs: number; seconds?: number },
): Promise<Ingest> {
  const ls = await until(
    `${ns}/${name} status.ingest`,
    async () => {
      const l = await kube.get<LiveStream>(resourcePath('vstream.io/v1alpha1', 'LiveStream', ns, name));
      return l.status?.ingest?.rtmp?.server ? l : undefined;
    },
    opts.timeoutMs,
  );
  const rtmp = ls.status!.ingest!.rtmp!;
  const path = `${rtmp.server!.replace(/^rtmp:\/\/[^/]+\/?/, '')}/${rtmp.streamKey}`.replace(/^\//, '');
  const token = await until('publish token', () => publishToken(kube, ns, name), opts.timeoutMs);
  const port = await forward(await clusterIP(kube, ns, name), 1935);
  const url = `${rtmp.server!.replace(/^rtmp:\/\/[^/]+/, `rtmp://127.0.0.1:${port}`)}/${rtmp.streamKey}?token=${token}`;
  const ready = await until('metrics Service', () => pathReady(forward, kube, ns, name, path), opts.timeoutMs);
  let publisher: Publisher | undefined;
  let attempts = 0;
  const deadline = Date.now() + opts.timeoutMs;
  try {
    while (Date.now() < deadline) {
      if (!publisher || publisher.proc.exitCode !== null) {
        attempts++;
        publisher = publishRtmp(url, opts.seconds ?? 120);
      }
      if (await ready().catch(() => false)) return { publisher, url, path, ms: Date.now() - opts.since, attempts };
      await sleep(100);
    }
  } catch (e) {
    await publisher?.stop();
    throw e;
  }
  await publisher?.stop();
  throw new Error(`publish to ${ns}/${name} not accepted in ${opts.timeoutMs}ms: ${publisher?.output() ?? ''}`);
}
