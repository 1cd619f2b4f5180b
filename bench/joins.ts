// Viewer joins: new viewers, each with a distinct JWT, opening an HLS session (the multivariant playlist) through
// MediaMTX 1.20.1 with a live publisher, decided (a) by the vstream sidecar (authMethod http, the rendered config and
// the compiled sidecar with the rendered node flags) and (b) by MediaMTX's own `authMethod: jwt` with authJWTJWKS
// pointing at the same JWKS, served on 127.0.0.1. Same binary, same run, same tokens (each carries our claim and
// mediamtx_permissions). Writes bench/results/joins.json.
//   npm run bench:joins [-- --seconds 5 --rounds 5 --conns 16]
//
// The load client is tools/authload -hls: a new connection per viewer (a player's first request), `Authorization:
// Bearer <token>`, the next token of one shared counter, so no token repeats within 12 000 joins and neither
// decider can answer from a cache. joins/s counts 200 answers; the latency is the time to the whole first playlist.
// As in bench/auth.ts, each round runs both phases back to back and the ratio is taken within the round; medians
// over the rounds are reported with their range.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { toolPath } from '../dev/tools.ts';
import { publishRtmp, waitPlayable } from '../test/support/media.ts';
import {
  buildAll,
  PUBLISH_TOKEN,
  publisherJwt,
  STREAM_PATH,
  sidecarNodeFlags,
  startPod,
  viewerKeys,
  viewerTokens,
} from './stream-pod.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '5' },
    conns: { type: 'string', default: '16' },
    tokens: { type: 'string', default: '12000' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
buildAll();
const keys = await viewerKeys();
const tokens = await viewerTokens(keys, Number(values.tokens));
const tokensFile = join(mkdtempSync(join(tmpdir(), 'vstream-bench-joins-')), 'tokens.txt');
writeFileSync(tokensFile, `${tokens.join('\n')}\n`);
// The JWKS MediaMTX fetches, on loopback.
const jwksServer = createServer((_req, res) =>
  res.writeHead(200, { 'content-type': 'application/json' }).end(keys.jwks),
);
await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;

const sidecarPod = await startPod({ keys, auth: 'sidecar' });
const nativePod = await startPod({ keys, auth: { jwksUrl } });
const publishers = [
  publishRtmp(`${sidecarPod.rtmpUrl}?token=${PUBLISH_TOKEN}`, 3600),
  publishRtmp(`${nativePod.rtmpUrl}?jwt=${await publisherJwt(keys)}`, 3600),
];

interface Load {
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  statuses: Record<string, number>;
}
const load = (base: string, secs = seconds) =>
  new Promise<Load>((resolve, reject) =>
    execFile(
      toolPath('authload'),
      [
        ...['-url', `${base}/${STREAM_PATH}/index.m3u8`, '-hls', '-bodies', tokensFile],
        ...['-conns', String(values.conns), '-duration', `${secs}s`],
      ],
      { maxBuffer: 1 << 20 },
      (err, stdout) => {
        if (err) return reject(err);
        const r = JSON.parse(stdout) as Load;
        if (r.non2xx || r.errors)
          return reject(new Error(`${base}: ${r.non2xx} refused and ${r.errors} failed joins: ${stdout}`));
        resolve(r);
      },
    ),
  );
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
const r3 = (x: number) => Number(x.toFixed(3));

try {
  for (const pod of [sidecarPod, nativePod])
    await waitPlayable(pod.hlsBase, STREAM_PATH, { authorization: `Bearer ${tokens[0]}` }, Date.now());
  // Warm-up of both (JIT, MediaMTX's muxer, the JWKS fetch), discarded.
  await load(sidecarPod.hlsBase, 2);
  await load(nativePod.hlsBase, 2);
  const runs = { sidecar: [] as Load[], native: [] as Load[] };
  for (let i = 0; i < rounds; i++) {
    runs.sidecar.push(await load(sidecarPod.hlsBase));
    runs.native.push(await load(nativePod.hlsBase));
  }
  const of = (xs: Load[]) => ({
    joins_per_s: summary(xs.map((x) => Math.round(x.rps))),
    first_playlist_p50_ms: summary(xs.map((x) => x.p50_ms)),
    first_playlist_p99_ms: summary(xs.map((x) => x.p99_ms)),
  });
  const side = of(runs.sidecar);
  const native = of(runs.native);
  const ratios = summary(runs.sidecar.map((x, i) => r3(x.rps / runs.native[i]!.rps)));
  const p99Ratios = summary(runs.sidecar.map((x, i) => r3(x.p99_ms / runs.native[i]!.p99_ms)));
  const result = {
    sidecar_joins_per_s: side.joins_per_s.median,
    native_joins_per_s: native.joins_per_s.median,
    joins_ratio: ratios.median,
    sidecar_first_playlist_p99_ms: side.first_playlist_p99_ms.median,
    native_first_playlist_p99_ms: native.first_playlist_p99_ms.median,
    p99_ratio: p99Ratios.median,
    detail: {
      rounds,
      seconds_per_phase: seconds,
      connections: Number(values.conns),
      distinct_tokens: tokens.length,
      sidecar_node_flags: sidecarNodeFlags(),
      figures: 'median over the rounds (min, max beside it); ratios are taken within a round',
      sidecar: side,
      native,
      joins_ratio: ratios,
      p99_ratio: p99Ratios,
    },
  };
  writeFileSync(join(import.meta.dirname, 'results/joins.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
} finally {
  await Promise.all(publishers.map((p) => p.stop()));
  await Promise.all([sidecarPod.stop(), nativePod.stop()]);
  jwksServer.close();
}
