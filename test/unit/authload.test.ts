// The auth benchmark's load client (tools/authload) must load the hook the way MediaMTX does (a new connection per
// call), send each body once before any repeats (distinct viewer tokens stay distinct), and count what it sent.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, toolPath } from '../../dev/tools.ts';

let server: Server;
let url: string;
let connections = 0;
const received: string[] = [];
let authload: string;
const bodies = join(mkdtempSync(join(tmpdir(), 'vstream-authload-')), 'bodies.jsonl');
const DISTINCT = 300;

beforeAll(async () => {
  execFileSync('bash', [join(REPO_ROOT, 'tools/build.sh'), 'authload'], { stdio: 'ignore' });
  authload = toolPath('authload');
  writeFileSync(bodies, `${Array.from({ length: DISTINCT }, (_, i) => JSON.stringify({ n: i })).join('\n')}\n`);
  server = createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      received.push(b);
      // Every 7th body is denied, so the client's own count of non-2xx answers is checked too.
      res.writeHead((JSON.parse(b) as { n: number }).n % 7 === 0 ? 401 : 200).end();
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth`;
});
afterAll(() => new Promise((r) => server.close(r)));

// Not execFileSync: the server under load lives in this process's event loop.
async function run(args: string[]) {
  connections = 0;
  received.length = 0;
  const { stdout } = await promisify(execFile)(authload, ['-url', url, '-bodies', bodies, ...args]);
  return JSON.parse(stdout) as {
    requests: number;
    ok: number;
    non2xx: number;
    errors: number;
    keepalive: boolean;
  };
}

describe('tools/authload', () => {
  it('opens a new connection per call, as MediaMTX does, and sends every body once before repeating any', async () => {
    const r = await run(['-conns', '4', '-duration', '1s']);
    expect(r.requests).toBeGreaterThan(DISTINCT);
    expect(received.length).toBe(r.requests);
    expect(connections).toBe(r.requests);
    expect(r.errors).toBe(0);
    const denied = received.filter((b) => (JSON.parse(b) as { n: number }).n % 7 === 0).length;
    expect(r.non2xx).toBe(denied);
    expect(r.ok).toBe(r.requests - denied);
    // One shared counter: any DISTINCT consecutive counter values are distinct bodies, whatever the worker.
    const counts = new Map<string, number>();
    for (const b of received) counts.set(b, (counts.get(b) ?? 0) + 1);
    expect(counts.size).toBe(DISTINCT);
    const rounds = Math.ceil(r.requests / DISTINCT);
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(rounds);
  });

  it('reuses connections with -keepalive', async () => {
    const r = await run(['-conns', '4', '-duration', '1s', '-keepalive']);
    expect(r.keepalive).toBe(true);
    expect(r.requests).toBeGreaterThan(100);
    // Not exactly 4: Go's Transport hands a connection back to its idle pool from another goroutine, so under load a
    // worker's next request may occasionally dial before its old connection is back. Reuse means few connections.
    expect(connections).toBeGreaterThanOrEqual(1);
    expect(connections).toBeLessThan(r.requests / 20);
  });

  it('sends exactly rate × duration requests in rate mode', async () => {
    const r = await run(['-mode', 'rate', '-rate', '500', '-duration', '1s']);
    expect(r.requests).toBe(500);
    expect(received.length).toBe(500);
  });
});
