// What `npm run dev` prints must work as printed. The curl line is run against a stand-in for MediaMTX 1.20.1's HLS
// server (a mock, named as such; its cookie check copied from internal/servers/hls/http_server.go: a first request
// without ?cookieCheck=1 gets 302 to the same path with it), and the script makes sure ffmpeg is there first.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../dev/tools.ts';
import { devInstructions } from '../../scripts/dev-instructions.ts';

const VIEWER = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ2In0.c2ln';
const PLAYLIST = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000000\nmain_stream.m3u8\n';
let base = '';
const hls = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.searchParams.get('cookieCheck') !== '1') {
    url.searchParams.set('cookieCheck', '1');
    res.setHeader('Set-Cookie', 'cookieCheck=1; HttpOnly; Secure; SameSite=None; Partitioned');
    res.writeHead(302, { Location: `${url.pathname}?${url.searchParams}` }).end();
    return;
  }
  if (req.headers.authorization !== `Bearer ${VIEWER}`) return void res.writeHead(401).end();
  res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' }).end(PLAYLIST);
});
beforeAll(async () => {
  await new Promise<void>((r) => hls.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(hls.address() as AddressInfo).port}`;
});
afterAll(() => hls.close());

describe('npm run dev', () => {
  it('prints a curl command that gets the HLS playlist past MediaMTX cookie-check redirect', async () => {
    const text = devInstructions({
      phase: 'Ready',
      clusterServer: 'rtmp://keynote.demo.svc:1935/live',
      server: 'rtmp://127.0.0.1:1935/live',
      streamKey: 'keynote',
      token: 'publish-token',
      hls: `${base}/live/keynote/index.m3u8`,
      viewer: VIEWER,
      recordings: '/tmp/recordings',
    });
    const curl = text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.startsWith('curl '))!;
    expect(curl).toBeDefined();
    const { stdout: out } = await promisify(execFile)('sh', ['-c', curl], { encoding: 'utf8', timeout: 10_000 });
    expect(out).toBe(PLAYLIST);
  });

  it('makes sure ffmpeg is installed before it starts anything', () => {
    const src = readFileSync(join(REPO_ROOT, 'scripts/dev.ts'), 'utf8');
    const ensure = src.search(/ensureSystemPackages\(\[[^\]]*'ffmpeg'/);
    expect(ensure).toBeGreaterThan(0);
    expect(ensure).toBeLessThan(src.indexOf('startCluster('));
    expect(ensure).toBeLessThan(src.indexOf("'tools/build.sh'"));
  });
});
