// The runner on a real directory, against a stand-in for MediaMTX's control API on loopback (a mock, named as such):
// deletions, empty directories, metrics, and the level-triggered `record` switch.
import { existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthConfig } from '../../src/auth/contract.ts';
import { RecordingRunner } from '../../src/recording/runner.ts';

let record = true;
const patches: unknown[] = [];
const mockApi = createServer((req, res) => {
  if (req.headers.authorization !== 'Bearer api-token') return void res.writeHead(401).end();
  if (req.method === 'GET' && req.url === '/v3/config/paths/get/live/s')
    return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ record }));
  if (req.method === 'PATCH' && req.url === '/v3/config/paths/patch/live/s') {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const p = JSON.parse(body) as { record: boolean };
      patches.push(p);
      record = p.record;
      res.writeHead(200).end();
    });
    return;
  }
  res.writeHead(404).end();
});
let api = '';
beforeAll(async () => {
  await new Promise<void>((r) => mockApi.listen(0, '127.0.0.1', r));
  api = `http://127.0.0.1:${(mockApi.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => mockApi.close(r)));

function setup(recording: Partial<NonNullable<AuthConfig['recording']>>) {
  const dir = mkdtempSync(join(tmpdir(), 'vstream-rec-runner-'));
  writeFileSync(join(dir, 'api-token'), 'api-token\n');
  const root = join(dir, 'volume');
  mkdirSync(join(root, 'live/s'), { recursive: true });
  const config = {
    path: 'live/s',
    api: { tokenFile: join(dir, 'api-token') },
    recording: { dir: `${root}/`, retentionSeconds: 0, reserveBytes: 0, ...recording },
  } as unknown as AuthConfig;
  const registry = new Registry();
  const runner = new RecordingRunner({ config: () => config, api, registry, log: pino({ level: 'silent' }) });
  const segment = (name: string, bytes: number, ageSeconds: number) => {
    const f = join(root, 'live/s', name);
    writeFileSync(f, Buffer.alloc(bytes));
    const t = Date.now() / 1000 - ageSeconds;
    utimesSync(f, t, t);
    return f;
  };
  return { root, runner, registry, segment, config };
}

describe('recording runner', () => {
  it('deletes by age and size, removes leftovers and empty directories, and counts them', async () => {
    record = true;
    const { root, runner, registry, segment } = setup({ retentionSeconds: 600, maxBytes: 2500 });
    const old = segment('2026-01-01_00-00-00-000000.mp4', 1000, 3600);
    const a = segment('2026-01-01_00-50-00-000000.mp4', 1000, 300);
    const b = segment('2026-01-01_00-51-00-000000.mp4', 1000, 240);
    const c = segment('2026-01-01_00-52-00-000000.mp4', 1000, 180);
    const empty = segment('2026-01-01_00-52-30-000000.mp4', 0, 150);
    const current = segment('2026-01-01_00-53-00-000000.mp4', 1000, 0);
    mkdirSync(join(root, 'live/old-path'), { recursive: true });
    const p = await runner.pass();
    expect(p?.delete.map((d) => d.reason).sort()).toEqual(['age', 'empty', 'size', 'size']);
    expect([old, a, b, empty].map(existsSync)).toEqual([false, false, false, false]);
    expect([c, current].map(existsSync)).toEqual([true, true]);
    expect(existsSync(join(root, 'live/old-path'))).toBe(false);
    const st = runner.status();
    expect(st).toMatchObject({ paused: false, usedBytes: 2000, segments: 2, deleted: { age: 1, size: 2, empty: 1 } });
    expect(st.oldest).toBe('2026-01-01T00:52:00.000Z');
    const metrics = await registry.metrics();
    expect(metrics).toContain('vstream_recording_bytes 2000');
    expect(metrics).toContain('vstream_recording_segments_deleted_total{reason="size"} 2');
    expect(patches).toEqual([]);
  });

  it('pauses recording through the API when the volume is full and nothing may go, resumes, and re-asserts', async () => {
    record = true;
    patches.length = 0;
    // A reserve larger than any disk: always "full".
    const { runner, segment, config } = setup({ reserveBytes: 2 ** 60 });
    segment('2026-01-01_00-00-00-000000.mp4', 1000, 60);
    await runner.pass();
    expect(patches).toEqual([{ record: false }]);
    expect(runner.status()).toMatchObject({ paused: true, reason: 'VolumeFull' });
    // A config reload put record back on: the next pass switches it off again.
    record = true;
    await runner.pass();
    expect(patches).toEqual([{ record: false }, { record: false }]);
    // Nothing changes while paused and still full.
    await runner.pass();
    expect(patches).toHaveLength(2);
    config.recording!.reserveBytes = 0;
    await runner.pass();
    expect(patches.at(-1)).toEqual({ record: true });
    expect(runner.status().paused).toBe(false);
  });

  it('reports a pass that cannot reach MediaMTX, and keeps going', async () => {
    const { runner, config } = setup({});
    (config.api as { tokenFile: string }).tokenFile = '/nonexistent/api-token';
    expect(await runner.pass()).toBeUndefined();
    expect(runner.status().error).toBe('ENOENT');
  });
});
