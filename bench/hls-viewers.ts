// HLS viewers for the benchmarks, each with its own viewer JWT (Authorization: Bearer, as a player page sets it).
// A viewer plays the way hls.js does with its default settings on a live stream, simplified: it loads the
// multivariant playlist, then its media playlist, starts at the newest segment, and reloads the media playlist once
// per target duration, downloading every segment it has not had yet. Every request goes through MediaMTX's auth (the
// sidecar or MediaMTX's own JWT check), as a real player's does.
import { Agent, fetch } from 'undici';

export interface Viewers {
  /** Viewers that have downloaded at least one segment. */
  playing(): number;
  stats(): { requests: number; segments: number; bytes: number; errors: number; denied: number };
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function startViewers(base: string, path: string, tokens: string[]): Viewers {
  // One connection per viewer, kept alive, as a browser tab holds its own.
  const agent = new Agent({ connections: tokens.length, keepAliveTimeout: 30_000 });
  let stopped = false;
  const started = new Set<number>();
  const s = { requests: 0, segments: 0, bytes: 0, errors: 0, denied: 0 };
  const get = async (url: string, token: string) => {
    s.requests++;
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${token}` },
      dispatcher: agent,
      signal: AbortSignal.timeout(10_000),
    });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status === 401 || res.status === 403) s.denied++;
    if (!res.ok) throw new Error(`${url}: ${res.status}`);
    s.bytes += body.length;
    return body;
  };
  const uris = (playlist: string) => playlist.split('\n').filter((l) => l && !l.startsWith('#'));
  const viewer = async (i: number, token: string) => {
    // Spread the joins over a second, as an audience arriving does not hit the same millisecond.
    await sleep((i * 1000) / tokens.length);
    while (!stopped) {
      try {
        const index = (await get(`${base}/${path}/index.m3u8`, token)).toString();
        const media = uris(index)[0];
        if (!media) throw new Error('no media playlist');
        const seen = new Set<string>();
        let first = true;
        while (!stopped) {
          const pl = (await get(`${base}/${path}/${media}`, token)).toString();
          const target = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(pl)?.[1] ?? 1);
          const segs = uris(pl);
          for (const seg of first ? segs.slice(-1) : segs) {
            if (seen.has(seg)) continue;
            seen.add(seg);
            await get(`${base}/${path}/${seg}`, token);
            s.segments++;
            started.add(i);
          }
          first = false;
          await sleep(target * 1000);
        }
      } catch {
        if (stopped) return;
        s.errors++;
        await sleep(1000);
      }
    }
  };
  const running = tokens.map((t, i) => viewer(i, t));
  return {
    playing: () => started.size,
    stats: () => ({ ...s }),
    stop: async () => {
      stopped = true;
      await Promise.allSettled(running);
      await agent.close();
    },
  };
}
