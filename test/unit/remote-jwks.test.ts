// The remote JWKS fetch against a server on 127.0.0.1 that misbehaves: too large, endless, slow. Each time the fetch
// ends with a clear error, in bounded time and memory, and the last good keys stay.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JWKS_BYTES, RemoteJwks } from '../../src/auth/remote-jwks.ts';

let behave: (res: ServerResponse) => void;
let url = '';
let bytesSent = 0;
const server = createServer((_req, res) => behave(res));
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

let goodJwks = '';
beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  goodJwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' }] });
});

/** A RemoteJwks that already holds good keys, and the results of its fetches. */
async function primed(opts: { timeoutMs?: number; maxBytes?: number } = {}) {
  const results: { ok: boolean; detail: string }[] = [];
  const remote = new RemoteJwks({
    url,
    cooldownMs: 0,
    onResult: (ok, detail) => results.push({ ok, detail }),
    ...opts,
  });
  behave = (res) => res.end(goodJwks);
  await remote.refresh();
  expect(results).toEqual([{ ok: true, detail: '1 keys' }]);
  return { remote, results, good: remote.current() };
}

/** Streams `chunk` until the client goes away (or `limit` bytes). */
function stream(res: ServerResponse, chunk: Buffer, everyMs: number) {
  bytesSent = 0;
  res.writeHead(200, { 'content-type': 'application/json' });
  const t = setInterval(() => {
    if (res.destroyed || bytesSent > 64 * MAX_JWKS_BYTES) return clearInterval(t);
    bytesSent += chunk.length;
    res.write(chunk);
  }, everyMs);
  res.on('close', () => clearInterval(t));
}

describe('remote JWKS limits', () => {
  it('refuses a body whose Content-Length is over the cap without reading it', async () => {
    const { remote, results, good } = await primed();
    behave = (res) => res.writeHead(200, { 'content-length': String(MAX_JWKS_BYTES + 1) }).end('x'.repeat(10));
    await remote.refresh();
    expect(results.at(-1)).toEqual({ ok: false, detail: `body larger than ${MAX_JWKS_BYTES} bytes` });
    expect(remote.current()).toBe(good);
  });

  it('stops an endless chunked body at the cap', async () => {
    const { remote, results, good } = await primed({ timeoutMs: 20_000 });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    behave = (res) => stream(res, chunk, 0);
    const t0 = performance.now();
    await remote.refresh();
    expect(results.at(-1)).toEqual({ ok: false, detail: `body larger than ${MAX_JWKS_BYTES} bytes` });
    expect(remote.current()).toBe(good);
    expect(performance.now() - t0).toBeLessThan(5_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(bytesSent).toBeLessThan(8 * MAX_JWKS_BYTES); // the download was abandoned, not read to the end
  });

  it('a smaller cap is honoured too', async () => {
    const results: string[] = [];
    const remote = new RemoteJwks({ url, maxBytes: 100, onResult: (_ok, detail) => results.push(detail) });
    behave = (res) => res.end(goodJwks); // a real JWKS, but larger than 100 bytes
    await remote.refresh();
    expect(results).toEqual(['body larger than 100 bytes']);
    expect(remote.current()).toBeUndefined();
  });

  it('gives up on a body that trickles past the deadline', async () => {
    const { remote, results, good } = await primed({ timeoutMs: 300 });
    behave = (res) => stream(res, Buffer.from(' '), 20);
    const t0 = performance.now();
    await remote.refresh();
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(results.at(-1)).toEqual({ ok: false, detail: 'no complete answer within 300 ms' });
    expect(remote.current()).toBe(good);
  });

  it('gives up on a server that never answers', async () => {
    const { remote, results } = await primed({ timeoutMs: 300 });
    behave = () => {};
    await remote.refresh();
    expect(results.at(-1)).toEqual({ ok: false, detail: 'no complete answer within 300 ms' });
  });

  it('reports a body that is not JSON', async () => {
    const { remote, results } = await primed();
    behave = (res) => res.end('<html>login</html>');
    await remote.refresh();
    expect(results.at(-1)).toEqual({ ok: false, detail: 'body is not JSON' });
  });

  it('follows a redirect, as fetch did, and refuses a loop of them', async () => {
    const { remote, results } = await primed();
    let calls = 0;
    behave = (res) => {
      calls++;
      if (calls === 1) res.writeHead(302, { location: '/jwks?moved' }).end();
      else res.end(goodJwks);
    };
    await remote.refresh();
    expect(results.at(-1)).toEqual({ ok: true, detail: '1 keys' });
    expect(calls).toBe(2);
    behave = (res) => res.writeHead(301, { location: '/jwks?again' }).end();
    await remote.refresh();
    expect(results.at(-1)).toEqual({ ok: false, detail: 'more than 5 redirects' });
  });
});
