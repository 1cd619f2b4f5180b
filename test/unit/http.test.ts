// The product's HTTP client (src/net/http.ts) and the API server connection built on it: bodies, limits, deadlines
// and aborts, and a kubeconfig's proxy-url through a real forward proxy (plain requests and CONNECT tunnels to an
// https server with its own CA), all on 127.0.0.1.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kube } from '../../src/kube/rest.ts';
import { lines, request } from '../../src/net/http.ts';
import { selfSigned, type TestCert } from '../support/certs.ts';

const listen = async (server: Server) => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
};
const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

describe('request', () => {
  let base = '';
  beforeAll(async () => {
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        if (req.url === '/echo') {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ method: req.method, body, length: req.headers['content-length'] ?? null }));
        } else if (req.url === '/slow') setTimeout(() => res.end('late'), 2000);
        else if (req.url === '/big') res.end(Buffer.alloc(1 << 20, 120));
        else if (req.url === '/stall') {
          res.write('first part;');
          // never ends: the reader's deadline has to
        } else res.writeHead(404).end('no');
      });
    });
    servers.push(server);
    base = `http://127.0.0.1:${await listen(server)}`;
  });

  it('sends a body with its length and reads JSON back', async () => {
    const res = await request(`${base}/echo`, { method: 'POST', body: '{"a":1}' });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ method: 'POST', body: '{"a":1}', length: '7' });
  });

  it('reports a status without throwing, and a dumped body frees the connection', async () => {
    const res = await request(`${base}/nothing`);
    expect(res.statusCode).toBe(404);
    await res.body.dump();
    expect((await request(`${base}/echo`)).statusCode).toBe(200);
  });

  it('rejects with the deadline reason when the answer is late', async () => {
    const started = performance.now();
    const e = await request(`${base}/slow`, { signal: AbortSignal.timeout(200) }).catch((x: Error) => x);
    expect((e as Error).name).toBe('TimeoutError');
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it('rejects a body that stalls past the deadline, and nothing escapes as an uncaught error', async () => {
    const res = await request(`${base}/stall`, { signal: AbortSignal.timeout(300) });
    expect(res.statusCode).toBe(200);
    const e = await res.body.text().catch((x: Error) => x);
    expect((e as Error).name).toBe('TimeoutError');
  });

  it('stops reading past a dump limit', async () => {
    const res = await request(`${base}/big`);
    await res.body.dump({ limit: 1024 });
    expect(res.body.stream.destroyed).toBe(true);
  });

  it('refuses a scheme it does not speak', async () => {
    await expect(request('ftp://127.0.0.1/x')).rejects.toThrow(/unsupported protocol ftp:/);
  });
});

describe('lines', () => {
  const collect = async (chunks: (string | Buffer)[]) => {
    const out: string[] = [];
    for await (const l of lines(chunks)) out.push(l);
    return out;
  };
  it('splits across chunks, drops CR before LF, keeps a last line without LF', async () => {
    expect(await collect(['{"a"', ':1}\r\n{"b":2}\n\n', '{"c"', ':3}'])).toEqual(['{"a":1}', '{"b":2}', '', '{"c":3}']);
  });
  it('keeps a character whose bytes arrive in two chunks', async () => {
    const bytes = Buffer.from('é\n');
    expect(await collect([bytes.subarray(0, 1), bytes.subarray(1)])).toEqual(['é']);
  });
  it('a watch left after its loop and then aborted raises no uncaught error', async () => {
    // The informer leaves its loop on a watch ERROR event and then aborts the request; with node:readline the
    // connection's close became an uncaught "aborted" (seven in one CI run, when the API server restarted).
    const server = createServer((_req, res) => {
      res.writeHead(200);
      res.write('{"type":"ERROR"}\n');
      // and stays open, as a watch does
    });
    servers.push(server);
    const port = await listen(server);
    const abort = new AbortController();
    const res = await request(`http://127.0.0.1:${port}/watch`, { signal: abort.signal });
    for await (const line of lines(res.body.stream)) {
      expect(line).toBe('{"type":"ERROR"}');
      break;
    }
    abort.abort();
    server.closeAllConnections();
    await new Promise((r) => setTimeout(r, 200)); // an uncaught error would fail this file in vitest
    expect(res.body.stream.destroyed).toBe(true);
  });
});

describe("a kubeconfig's proxy-url", () => {
  const dir = mkdtempSync(join(tmpdir(), 'vstream-proxy-'));
  /** Requests the proxy forwarded: absolute-form URLs, or CONNECT targets. */
  const proxied: string[] = [];
  let proxyUrl = '';
  let plainApi = '';
  let tlsApi = '';
  let pem: TestCert;
  beforeAll(async () => {
    const answer = (url: string | undefined) => JSON.stringify({ kind: 'Status', path: url });
    const plain = createServer((req, res) => res.end(answer(req.url)));
    servers.push(plain);
    plainApi = `http://127.0.0.1:${await listen(plain)}`;
    // An https API server whose certificate only our CA vouches for, as a cluster's is.
    pem = selfSigned({ dns: [], ips: ['127.0.0.1'], cn: '127.0.0.1' });
    const tls = createHttpsServer({ key: pem.key, cert: pem.cert }, (req, res) => res.end(answer(req.url)));
    servers.push(tls as unknown as Server);
    tlsApi = `https://127.0.0.1:${await listen(tls as unknown as Server)}`;
    // A forward proxy: absolute-form requests relayed, CONNECT tunnelled.
    const proxy = createServer((req, res) => {
      proxied.push(req.url ?? '');
      const up = httpRequest(req.url ?? '', { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    proxy.on('connect', (req, socket, head) => {
      proxied.push(`CONNECT ${req.url}`);
      const [host, port] = (req.url ?? '').split(':');
      const up = connect(Number(port), host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        up.write(head);
        up.pipe(socket);
        socket.pipe(up);
      });
      up.on('error', () => socket.destroy());
    });
    servers.push(proxy);
    proxyUrl = `http://127.0.0.1:${await listen(proxy)}`;
  });

  const kubeconfig = (server: string, extra: Record<string, unknown>) => {
    const file = join(dir, `kc-${proxied.length}-${Math.random()}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server, 'proxy-url': proxyUrl, ...extra } }],
        users: [{ name: 'u', user: { token: 't' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    return file;
  };

  it('sends plain http requests through the proxy', async () => {
    const kube = await Kube.load(kubeconfig(plainApi, {}));
    expect(await kube.get('/api/v1/namespaces')).toEqual({ kind: 'Status', path: '/api/v1/namespaces' });
    expect(proxied).toContain(`${plainApi}/api/v1/namespaces`);
  });

  it('tunnels https through CONNECT and still verifies the server against the cluster CA', async () => {
    const ca = Buffer.from(pem.cert).toString('base64');
    const kube = await Kube.load(kubeconfig(tlsApi, { 'certificate-authority-data': ca }));
    expect(await kube.get('/version')).toEqual({ kind: 'Status', path: '/version' });
    expect(proxied).toContain(`CONNECT ${tlsApi.replace('https://', '')}`);
    // Without that CA the same server is refused.
    const untrusted = await Kube.load(kubeconfig(tlsApi, {}));
    await expect(untrusted.get('/version')).rejects.toThrow(/self-signed|certificate/);
  });

  it('refuses a proxy scheme it cannot use, naming it', async () => {
    await expect(Kube.load(kubeconfig(plainApi, { 'proxy-url': 'socks5://127.0.0.1:1080' }))).rejects.toThrow(
      /proxy-url socks5:\/\/127.0.0.1:1080: only http and https proxies are supported/,
    );
  });
});

describe("Node's bundled undici stays unloaded", () => {
  // Importing node:http as an ES module loads it (src/net/node-http.ts): +10 MiB RSS per process. Checked on the
  // module graphs the controller and the sidecar run, so a dependency or a new import that brings it back fails here.
  it.each([
    ['the controller', 'src/controller/main.ts'],
    ['the auth sidecar', 'src/auth/main.ts'],
    ['the sidecar supervisor', 'src/auth/supervisor.ts'],
  ])('%s (%s)', (_who, entry) => {
    const script = `const before = new Set(process.moduleLoadList);
      await import(${JSON.stringify(join(process.cwd(), entry))});
      console.log(JSON.stringify(process.moduleLoadList.filter((m) => !before.has(m))));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const loaded = JSON.parse(out.trim().split('\n').at(-1) ?? '[]') as string[];
    expect(loaded.length).toBeGreaterThan(0);
    expect(loaded.filter((m) => m.includes('deps/undici'))).toEqual([]);
  });
});
