// The auth sidecar as it runs in a pod (`vstream auth`): the supervisor holds the hook socket, the worker decides.
// Its point is #17's: a streamer with a valid token is never refused because the worker died. Every hook call here
// opens its own connection, as MediaMTX 1.20.1 does, and the worker is killed with SIGKILL (what the kernel's OOM
// killer does) while calls keep coming.
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../dev/cluster.ts';
import { keys, mtx, PUBLISH_TOKEN, sidecar } from '../support/auth-fixture.ts';
import { childPids } from '../support/process.ts';

const CLI = join(import.meta.dirname, '../../src/cli.ts');
const procs: ChildProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
});

async function start(config: string) {
  const port = await freePort();
  const out: string[] = [];
  const p = spawn(
    process.execPath,
    [
      CLI,
      'auth',
      '--config',
      config,
      '--listen',
      `127.0.0.1:${port}`,
      '--ops-listen',
      '127.0.0.1:0',
      '--mediamtx-api',
      'http://127.0.0.1:1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  procs.push(p);
  p.stdout?.on('data', (d) => out.push(String(d)));
  p.stderr?.on('data', (d) => out.push(String(d)));
  return { p, port, out };
}

/** One hook call on a connection of its own; resolves with the status, or 0 when refused or reset. */
function hook(port: number, body: unknown): Promise<number> {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/auth',
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        timeout: 10_000, // MediaMTX's readTimeout
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end(data);
  });
}

/** The worker: the supervisor's only child. */
const workerOf = (pid: number): number | undefined => childPids(pid)[0];

async function waitFor<T>(what: string, f: () => T | undefined, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const publish = (token: string) => mtx({ action: 'publish', protocol: 'rtmp', token, ip: '127.0.0.1' });

describe('auth supervisor', () => {
  it('hands every connection to the worker whole: decisions are the worker’s', async () => {
    const s = await sidecar(await keys(), 'public');
    const { p, port } = await start(join(s.dir, 'config/auth.json'));
    await waitFor('worker', () => workerOf(p.pid!));
    let first = 0;
    for (let i = 0; i < 50 && first !== 200; i++) {
      first = await hook(port, publish(PUBLISH_TOKEN));
      if (first !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(first).toBe(200);
    expect(await hook(port, publish('not-the-token'))).toBe(401);
    expect(await hook(port, { not: 'a request' })).toBe(400);
  });

  it('a valid publisher is never refused while the worker is killed and restarted, three times over', async () => {
    const s = await sidecar(await keys(), 'public');
    const { p, port, out } = await start(join(s.dir, 'config/auth.json'));
    for (let i = 0; i < 50 && (await hook(port, publish(PUBLISH_TOKEN))) !== 200; i++)
      await new Promise((r) => setTimeout(r, 100));
    const calls: { start: number; end: number; status: number }[] = [];
    const kills: number[] = [];
    let running = true;
    // Four streamers reconnecting in a loop, as fast as their answers come.
    const loops = Array.from({ length: 4 }, async () => {
      while (running) {
        const start = performance.now();
        const status = await hook(port, publish(PUBLISH_TOKEN));
        calls.push({ start, end: performance.now(), status });
      }
    });
    const pids: number[] = [];
    for (let k = 0; k < 3; k++) {
      await new Promise((r) => setTimeout(r, 400));
      const w = workerOf(p.pid!)!;
      pids.push(w);
      kills.push(performance.now());
      process.kill(w, 'SIGKILL');
      await waitFor('a new worker', () => {
        const n = workerOf(p.pid!);
        return n && n !== w ? n : undefined;
      });
    }
    await new Promise((r) => setTimeout(r, 600));
    running = false;
    await Promise.all(loops);
    const failed = calls.filter((c) => c.status !== 200);
    // The one thing a supervisor cannot save: a call the worker was deciding at the instant it was killed (its
    // connection dies with the worker; MediaMTX sees an error). Every call that arrived while no worker was up
    // waited and was answered.
    const inFlightAtAKill = (c: { start: number; end: number }) => kills.some((k) => c.start <= k && c.end >= k);
    const waitedThrough = calls.filter((c) => c.status === 200 && inFlightAtAKill(c));
    console.log(
      `[auth-supervisor] ${calls.length} publish calls across 3 worker kills: ${failed.length} lost in the killed worker, ${waitedThrough.length} waited through a restart and were answered; longest ${Math.max(...calls.map((c) => c.end - c.start)).toFixed(0)} ms`,
    );
    expect(new Set(pids).size).toBe(3);
    expect(calls.length).toBeGreaterThan(50);
    expect(failed.filter((c) => !inFlightAtAKill(c))).toEqual([]);
    expect(failed.length).toBeLessThanOrEqual(3 * 4); // at most the calls in flight at each kill
    expect(waitedThrough.length).toBeGreaterThan(0);
    expect(out.join('')).toContain('auth worker exited; starting another');
    expect(p.exitCode).toBeNull(); // the supervisor itself never went down
  });

  it('a worker that cannot start ends the supervisor with its exit code (no restart loop)', async () => {
    const { p, out } = await start('/nonexistent/auth.json');
    const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    expect(code).not.toBe(0);
    expect(out.join('')).not.toContain('starting another');
  });

  it('SIGTERM stops the worker and then the supervisor, cleanly', async () => {
    const s = await sidecar(await keys(), 'public');
    const { p, port } = await start(join(s.dir, 'config/auth.json'));
    for (let i = 0; i < 50 && (await hook(port, publish(PUBLISH_TOKEN))) !== 200; i++)
      await new Promise((r) => setTimeout(r, 100));
    const w = workerOf(p.pid!)!;
    p.kill('SIGTERM');
    expect(await new Promise((r) => p.once('exit', (c) => r(c)))).toBe(0);
    expect(() => process.kill(w, 0)).toThrow(); // the worker is gone too
  });
});
