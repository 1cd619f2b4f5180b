// A second, local MediaMTX standing in for YouTube/Twitch as a restream target: RTMP on a free loopback port,
// anyone may read, publishing needs the stream key (user "pub", the key as its password: the restream's stream
// key is "<name>?user=pub&pass=<key>").
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../dev/cluster.ts';
import { toolPath } from '../../dev/tools.ts';
import { waitUntil } from './wait.ts';

export interface RtmpTarget {
  port: number;
  url: string;
  proc: ChildProcess;
  log: () => string;
  stop(): Promise<void>;
}

export async function startRtmpTarget(key: string): Promise<RtmpTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'vstream-rtmp-target-'));
  const port = await freePort();
  const config = [
    'logLevel: info',
    'rtmp: yes',
    `rtmpAddress: 127.0.0.1:${port}`,
    'rtsp: no',
    'hls: no',
    'webrtc: no',
    'srt: no',
    'moq: no',
    'api: no',
    'playback: no',
    'metrics: no',
    'authMethod: internal',
    'authInternalUsers:',
    '  - {user: any, pass: "", ips: [], permissions: [{action: read}]}',
    `  - {user: pub, pass: "${key}", ips: [], permissions: [{action: publish}]}`,
    'paths:',
    '  all_others:',
    '',
  ].join('\n');
  const file = join(dir, 'target.yml');
  writeFileSync(file, config, { mode: 0o600 });
  const logFile = join(dir, 'target.log');
  const proc = spawn(toolPath('mediamtx'), [file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(logFile);
  proc.stdout?.pipe(out);
  proc.stderr?.pipe(out);
  const log = () => readFileSync(logFile, 'utf8');
  await waitUntil('restream target MediaMTX', async () => log().includes('[RTMP] started'), 15_000, 100);
  return {
    port,
    url: `rtmp://127.0.0.1:${port}/restream`,
    proc,
    log,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
