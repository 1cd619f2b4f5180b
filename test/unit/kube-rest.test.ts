// The REST client against a fake API server on 127.0.0.1: Retry-After honoured for requests safe to repeat, bounded
// retries, and client-go's rest_client_* metrics.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Connection, loadConnectionSync } from '../../src/kube/config.ts';
import { HttpMethod, Kube, KubeError } from '../../src/kube/rest.ts';
import { MAX_RETRY_AFTER_MS, retryAfterMs } from '../../src/kube/retry.ts';
import { fakeApiServer, kubeconfigYaml } from './fake-apiserver.ts';

let api: Awaited<ReturnType<typeof fakeApiServer>>;
let conn: Connection;
beforeAll(async () => {
  api = await fakeApiServer();
  const file = join(mkdtempSync(join(tmpdir(), 'vstream-rest-')), 'config');
  writeFileSync(file, kubeconfigYaml(api.url, { token: 'static-token-0123456789' }));
  conn = loadConnectionSync(file)!;
});
afterAll(() => api.close());

/** A client whose retries wait no real time; the waits it asked for are recorded. */
function client(maxRetries?: number) {
  const waits: number[] = [];
  const registry = new Registry();
  const kube = new Kube(conn, {
    registry,
    ...(maxRetries === undefined ? {} : { maxRetries }),
    sleep: async (ms) => void waits.push(ms),
  });
  return { kube, waits, registry };
}

/** Answers with the given statuses in turn (then 200), with optional Retry-After headers. */
function script(...answers: { status: number; retryAfter?: string }[]) {
  let i = 0;
  api.handler = (_req, res) => {
    const a = answers[i++] ?? { status: 200 };
    res.statusCode = a.status;
    if (a.retryAfter !== undefined) res.setHeader('retry-after', a.retryAfter);
    res.end(a.status === 200 ? '{"ok":true}' : '{"kind":"Status","reason":"TooManyRequests","message":"slow down"}');
  };
}

let before = 0;
beforeEach(() => {
  before = api.seen.length;
});
const sent = () => api.seen.slice(before);

describe('Retry-After', () => {
  it('a 429 is retried after the time the server asks for', async () => {
    const { kube, waits } = client();
    script({ status: 429, retryAfter: '2' }, { status: 429, retryAfter: '1' });
    expect(await kube.get('/api/v1/namespaces/x/configmaps/y')).toEqual({ ok: true });
    expect(sent().length).toBe(3);
    expect(waits).toEqual([2000, 1000]);
  });

  it('a 503 is retried only with Retry-After', async () => {
    const { kube, waits } = client();
    script({ status: 503, retryAfter: '1' });
    await kube.get('/api');
    expect(sent().length).toBe(2);
    before = api.seen.length;
    script({ status: 503 });
    await expect(kube.get('/api')).rejects.toThrow(KubeError);
    expect(sent().length).toBe(1);
    expect(waits).toEqual([1000]);
  });

  it('server-side apply, merge patch, PUT and DELETE are retried; create (POST) and JSON patch are not', async () => {
    const { kube } = client();
    const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n' } };
    const cases: [string, () => Promise<unknown>, number][] = [
      ['apply', () => kube.apply(obj, 'vstream'), 2],
      ['merge patch', () => kube.mergePatch('/api/v1/namespaces/n/configmaps/c', { data: {} }), 2],
      ['put', () => kube.request(HttpMethod.PUT, '/api/v1/namespaces/n/configmaps/c', { body: obj }), 2],
      ['delete', () => kube.delete('/api/v1/namespaces/n/configmaps/c'), 2],
      ['create', () => kube.create(obj), 1],
      [
        'json patch',
        () =>
          kube.request(HttpMethod.PATCH, '/api/v1/namespaces/n/configmaps/c', {
            body: [],
            contentType: 'application/json-patch+json',
          }),
        1,
      ],
    ];
    for (const [what, call, attempts] of cases) {
      before = api.seen.length;
      script({ status: 429, retryAfter: '1' });
      await call().catch(() => undefined);
      expect(sent().length, what).toBe(attempts);
      // Each attempt sends the whole body again.
      for (const r of sent()) expect(r.body, what).toBe(sent()[0]!.body);
    }
  });

  it('retries are bounded: the last 429 is returned as an error', async () => {
    const { kube, waits } = client(3);
    api.handler = (_req, res) => {
      res.statusCode = 429;
      res.setHeader('retry-after', '1');
      res.end('{"kind":"Status","reason":"TooManyRequests","message":"slow down"}');
    };
    const e = await kube.get('/api').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KubeError);
    expect((e as KubeError).status).toBe(429);
    expect(sent().length).toBe(4);
    expect(waits.length).toBe(3);
  });

  it('parses seconds and HTTP dates, caps long waits, and defaults a bare 429', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(429, '3', now)).toBe(3000);
    expect(retryAfterMs(429, 'Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs(429, '86400', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs(429, null, now)).toBe(1000);
    expect(retryAfterMs(429, 'soon', now)).toBe(1000);
    expect(retryAfterMs(503, null, now)).toBeUndefined();
    expect(retryAfterMs(500, '2', now)).toBe(2000);
    expect(retryAfterMs(409, '2', now)).toBeUndefined();
    expect(retryAfterMs(200, '2', now)).toBeUndefined();
  });

  it('a caller that gives up while waiting gets its abort, not another attempt', async () => {
    const kube = new Kube(conn, { maxRetries: 5 });
    script({ status: 429, retryAfter: '30' });
    const abort = new AbortController();
    const p = kube.raw('GET', '/api', { signal: abort.signal });
    setTimeout(() => abort.abort(new Error('caller gave up')), 100);
    await expect(p).rejects.toThrow('caller gave up');
    expect(sent().length).toBe(1);
  });
});

describe('client-go metrics', () => {
  it('counts every attempt by code, method and host, and times it by verb and host', async () => {
    const { kube, registry } = client();
    const host = new URL(api.url).host;
    script({ status: 429, retryAfter: '1' });
    await kube.get('/api');
    script({ status: 404 });
    await kube.getOrUndefined('/api/v1/namespaces/x');
    script();
    await kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n' } }, 'vstream');
    const text = await registry.metrics();
    expect(text).toContain(`rest_client_requests_total{code="429",method="GET",host="${host}"} 1`);
    expect(text).toContain(`rest_client_requests_total{code="200",method="GET",host="${host}"} 1`);
    expect(text).toContain(`rest_client_requests_total{code="404",method="GET",host="${host}"} 1`);
    expect(text).toContain(`rest_client_requests_total{code="200",method="PATCH",host="${host}"} 1`);
    expect(text).toContain(`rest_client_request_duration_seconds_count{verb="GET",host="${host}"} 3`);
    expect(text).toContain(`rest_client_request_duration_seconds_bucket{le="0.005",verb="GET",host="${host}"}`);
    expect(text).toContain(`rest_client_request_retries_total{code="429",verb="GET",host="${host}"} 1`);
  });

  it('a request with no response is counted as <error>', async () => {
    const registry = new Registry();
    const file = join(mkdtempSync(join(tmpdir(), 'vstream-rest-')), 'config');
    writeFileSync(file, kubeconfigYaml('http://127.0.0.1:1', { token: 'static-token-0123456789' }));
    const kube = Kube.loadSync(file, { registry });
    await expect(kube.get('/api')).rejects.toThrow();
    expect(await registry.metrics()).toContain(
      'rest_client_requests_total{code="<error>",method="GET",host="127.0.0.1:1"} 1',
    );
  });

  it('two clients can share a registry', async () => {
    const registry = new Registry();
    const a = new Kube(conn, { registry });
    const b = new Kube(conn, { registry });
    script();
    await a.get('/api');
    script();
    await b.get('/api');
    expect(await registry.metrics()).toMatch(/rest_client_requests_total\{code="200",method="GET",host="[^"]+"\} 2/);
  });
});
