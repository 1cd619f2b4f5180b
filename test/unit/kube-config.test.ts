// Kubeconfig resolution like kubectl: which source wins, how $KUBECONFIG files merge, token files re-read on a
// period (not per request), exec plugins, all against a fake API server on 127.0.0.1.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConnection, loadConnectionSync, resolveSource } from '../../src/kube/config.ts';
import { mergeKubeconfigs, parseKubeconfig, selectContext } from '../../src/kube/kubeconfig.ts';
import { Kube, USER_AGENT } from '../../src/kube/rest.ts';
import { TokenFile } from '../../src/kube/token-file.ts';
import { VERSION } from '../../src/version.ts';
import { fakeApiServer, kubeconfigYaml } from './fake-apiserver.ts';

const dir = mkdtempSync(join(tmpdir(), 'vstream-kubeconfig-'));
const write = (name: string, text: string) => {
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
};
const cfg = (doc: object) => JSON.stringify({ apiVersion: 'v1', kind: 'Config', ...doc });

let api: Awaited<ReturnType<typeof fakeApiServer>>;
beforeAll(async () => {
  api = await fakeApiServer();
});
afterAll(() => api.close());

describe('which configuration is used', () => {
  const saDir = join(dir, 'sa');
  write('sa/token', 'sa-token-1\n');
  write('sa/ca.crt', 'not a real CA; never used for a connection here');
  write('sa/namespace', 'vstream-system');
  const home = join(dir, 'home');
  const homeFile = write('home/.kube/config', cfg({}));
  const envFile = write('env.yaml', cfg({}));
  const explicit = write('explicit.yaml', cfg({}));
  const inClusterEnv = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
  const o = (env: NodeJS.ProcessEnv) => ({ env, home, serviceAccountDir: saDir });

  it('an explicit --kubeconfig wins over everything', () => {
    expect(resolveSource(explicit, o({ KUBECONFIG: envFile, ...inClusterEnv }))).toEqual({
      kind: 'kubeconfig',
      files: [explicit],
    });
  });
  it('$KUBECONFIG comes before in-cluster (kubectl and controller-runtime order)', () => {
    expect(resolveSource(undefined, o({ KUBECONFIG: envFile, ...inClusterEnv }))).toEqual({
      kind: 'kubeconfig',
      files: [envFile],
    });
  });
  it('in-cluster comes before ~/.kube/config', () => {
    expect(resolveSource(undefined, o(inClusterEnv))).toEqual({ kind: 'in-cluster', host: '10.96.0.1', port: '443' });
  });
  it('~/.kube/config last', () => {
    expect(resolveSource(undefined, o({}))).toEqual({ kind: 'kubeconfig', files: [homeFile] });
    // In-cluster needs both variables and a token.
    expect(resolveSource(undefined, o({ KUBERNETES_SERVICE_HOST: '10.96.0.1' })).kind).toBe('kubeconfig');
    expect(resolveSource(undefined, { env: inClusterEnv, home, serviceAccountDir: join(dir, 'no-sa') }).kind).toBe(
      'kubeconfig',
    );
  });
  it('says what it tried when nothing is there', () => {
    expect(() => resolveSource(undefined, { env: {}, home: join(dir, 'nohome'), serviceAccountDir: saDir })).toThrow(
      /--kubeconfig.*\$KUBECONFIG.*ServiceAccount.*~\/\.kube\/config/,
    );
    expect(() => resolveSource(join(dir, 'missing.yaml'), o({}))).toThrow(/missing\.yaml: no such file/);
    expect(() => resolveSource(undefined, o({ KUBECONFIG: `${dir}/a-missing:${dir}/b-missing` }))).toThrow(
      /\$KUBECONFIG lists no file that exists/,
    );
  });
  it('in-cluster: https to the service host, the ServiceAccount token and namespace', async () => {
    const conn = loadConnectionSync(
      undefined,
      o({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }),
    )!;
    expect(conn.server).toBe('https://[fd00::1]:6443');
    expect(conn.namespace).toBe('vstream-system');
    expect((await conn.credentials()).headers.authorization).toBe('Bearer sa-token-1');
  });
});

describe('merging $KUBECONFIG files (kubectl rules)', () => {
  const a = write(
    'merge/a.yaml',
    cfg({
      clusters: [{ name: 'shared', cluster: { server: 'https://from-a:6443', 'certificate-authority': 'ca.pem' } }],
      contexts: [{ name: 'dev', context: { cluster: 'shared', user: 'dev-user' } }],
      // no current-context here: the first file that sets one wins, even if it is not the first file
    }),
  );
  const b = write(
    'merge/sub/b.yaml',
    cfg({
      clusters: [
        { name: 'shared', cluster: { server: 'https://from-b:6443' } },
        { name: 'only-b', cluster: { server: 'https://only-b:6443' } },
      ],
      users: [{ name: 'dev-user', user: { tokenFile: 'tokens/dev' } }],
      contexts: [
        { name: 'dev', context: { cluster: 'only-b', user: 'dev-user' } },
        { name: 'prod', context: { cluster: 'only-b', user: 'dev-user' } },
      ],
      'current-context': 'dev',
    }),
  );
  const c = write('merge/c.yaml', cfg({ 'current-context': 'prod' }));

  const merged = () =>
    mergeKubeconfigs([a, b, c].map((p) => ({ path: p, config: parseKubeconfig(p, readFileSync(p, 'utf8')) })));

  it('the first file to define a name wins, the whole entry', () => {
    const m = merged();
    expect(m.clusters.get('shared')).toEqual({
      server: 'https://from-a:6443',
      'certificate-authority': join(dir, 'merge/ca.pem'),
    });
    expect(m.clusters.get('only-b')?.server).toBe('https://only-b:6443');
    expect(m.contexts.get('dev')).toEqual({ cluster: 'shared', user: 'dev-user' });
    expect(m.contexts.get('prod')).toBeDefined();
  });
  it('the first current-context set wins', () => {
    expect(merged().currentContext).toBe('dev');
  });
  it('relative paths resolve against the file that holds them', () => {
    const s = selectContext(merged());
    expect(s.cluster.server).toBe('https://from-a:6443');
    expect(s.user.tokenFile).toBe(join(dir, 'merge/sub/tokens/dev'));
  });
  it('reads every $KUBECONFIG entry, skipping missing and empty ones', async () => {
    write('merge/sub/tokens/dev', 'dev-token');
    write('merge/ca.pem', 'unused');
    const env = { KUBECONFIG: [a, '', join(dir, 'nope.yaml'), b, c].join(':') };
    const conn = await loadConnection(undefined, { env, home: dir });
    expect(conn.server).toBe('https://from-a:6443');
    expect(conn.source).toBe(`kubeconfig ${a}:${b}:${c} context dev`);
    expect((await conn.credentials()).headers.authorization).toBe('Bearer dev-token');
  });
  it('names what is missing', () => {
    const p = write('bad/ctx.yaml', cfg({ 'current-context': 'nope' }));
    expect(() => loadConnectionSync(p)).toThrow(/context "nope" not found/);
    const q = write(
      'bad/user.yaml',
      cfg({
        clusters: [{ name: 'c', cluster: { server: 'https://x' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'ghost' } }],
        'current-context': 'x',
      }),
    );
    expect(() => loadConnectionSync(q)).toThrow(/user "ghost" \(of context "x"\) not found/);
    expect(() => loadConnectionSync(write('bad/empty.yaml', ''))).toThrow(/no current-context/);
  });
});

describe('token files', () => {
  it('are read at most once a minute, not per request, and sooner after a 401', () => {
    let reads = 0;
    let content = 'one';
    let now = 0;
    const t = new TokenFile('/x', {
      now: () => now,
      read: () => {
        reads++;
        return `${content}\n`;
      },
    });
    for (let i = 0; i < 1000; i++) expect(t.get()).toBe('one');
    expect(reads).toBe(1);
    content = 'two';
    now = 59_000;
    expect(t.get()).toBe('one');
    now = 60_000;
    expect(t.get()).toBe('two');
    expect(reads).toBe(2);
    // A 401 for a token already replaced changes nothing; one for the current token allows a re-read, at most one a
    // second.
    content = 'three';
    t.invalidate('one');
    now = 60_500;
    expect(t.get()).toBe('two');
    t.invalidate('two');
    expect(t.get()).toBe('two');
    now = 61_000;
    expect(t.get()).toBe('three');
    for (let i = 0; i < 100; i++) t.invalidate('three');
    expect(t.get()).toBe('three');
    expect(reads).toBe(3);
  });

  it('keep the last good token when a re-read fails, and fail at start when there is none', () => {
    let now = 0;
    let fail = false;
    const errors: string[] = [];
    const t = new TokenFile('/x', {
      now: () => now,
      read: () => {
        if (fail) throw new Error('ENOENT');
        return 'tok';
      },
      onError: (e) => errors.push(e.message),
    });
    expect(t.get()).toBe('tok');
    fail = true;
    now = 120_000;
    expect(t.get()).toBe('tok');
    expect(errors).toEqual(['ENOENT']);
    expect(() => new TokenFile('/missing', { read: () => readFileSync('/missing', 'utf8') }).get()).toThrow(
      /cannot read token file \/missing/,
    );
  });

  it('a kubeconfig tokenFile rotated on disk reaches the API server after the period (and after a 401 sooner)', async () => {
    const tokenPath = write('rot/token', 'first-token');
    const file = write('rot/config.yaml', kubeconfigYaml(api.url, { tokenFile: 'token' }));
    let now = 0;
    const kube = await Kube.load(file, { now: () => now });
    api.handler = (req, res) => {
      res.statusCode =
        req.headers.authorization === 'Bearer first-token' || req.headers.authorization === 'Bearer second-token'
          ? 200
          : 401;
      res.end('{}');
    };
    await kube.get('/api');
    writeFileSync(tokenPath, 'second-token');
    await kube.get('/api');
    const before = api.seen.length;
    now = 61_000;
    await kube.get('/api');
    expect(api.seen.slice(before - 2).map((r) => r.headers.authorization)).toEqual([
      'Bearer first-token',
      'Bearer first-token',
      'Bearer second-token',
    ]);
    // Rotated again and the old one revoked: a 401, then the next request (a second later) re-reads the file.
    writeFileSync(tokenPath, 'third-token');
    api.handler = (req, res) => {
      res.statusCode = req.headers.authorization === 'Bearer third-token' ? 200 : 401;
      res.end('{}');
    };
    await expect(kube.get('/api')).rejects.toThrow(/401/);
    now += 1_500;
    await kube.get('/api');
    expect(api.seen.at(-1)?.headers.authorization).toBe('Bearer third-token');
  });
});

describe('exec credential plugins (through @kubernetes/client-node)', () => {
  // A plugin as kubectl runs it: a relative command (resolved against the kubeconfig's directory) that prints an
  // ExecCredential; it counts its runs in a file so the test sees the caching.
  const runs = join(dir, 'exec/runs');
  writeFileSync(write('exec/runs', ''), '');
  const plugin = write(
    'exec/bin/cred.mjs',
    `#!${process.execPath}
import { appendFileSync, readFileSync } from 'node:fs';
appendFileSync(${JSON.stringify(runs)}, 'x');
const n = readFileSync(${JSON.stringify(runs)}, 'utf8').length;
console.log(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential',
  status: { token: 'exec-token-' + n + '-' + process.env.PLUGIN_ENV } }));
`,
  );
  chmodSync(plugin, 0o755);

  it('sends the plugin token with our User-Agent, runs the plugin once, and again after a 401', async () => {
    const file = write(
      'exec/config.yaml',
      kubeconfigYaml(api.url, {
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: './bin/cred.mjs',
          env: [{ name: 'PLUGIN_ENV', value: 'ok' }],
          interactiveMode: 'Never',
        },
      }),
    );
    expect(loadConnectionSync(file)).toBeUndefined(); // needs client-node
    const kube = await Kube.load(file);
    api.handler = (_req, res) => void res.end('{}');
    await kube.get('/api');
    await kube.get('/apis');
    expect(api.seen.at(-2)?.headers.authorization).toBe('Bearer exec-token-1-ok');
    expect(api.seen.at(-1)?.headers.authorization).toBe('Bearer exec-token-1-ok');
    expect(api.seen.at(-1)?.headers['user-agent']).toBe(`vstream/${VERSION}`);
    expect(readFileSync(runs, 'utf8')).toBe('x');
    // The server stops accepting the credential: the plugin runs again for the next request.
    api.handler = (_req, res) => {
      res.statusCode = 401;
      res.end('{}');
    };
    await expect(kube.get('/api')).rejects.toThrow(/401/);
    api.handler = (_req, res) => void res.end('{}');
    await kube.get('/api');
    expect(api.seen.at(-1)?.headers.authorization).toBe('Bearer exec-token-2-ok');
    expect(readFileSync(runs, 'utf8')).toBe('xx');
  });
});

describe('User-Agent', () => {
  it('is vstream/<version> on every request', async () => {
    const file = write('ua/config.yaml', kubeconfigYaml(api.url, { token: 'static-token-0123456789' }));
    const kube = Kube.loadSync(file);
    api.handler = (_req, res) => void res.end('{}');
    const before = api.seen.length;
    await kube.get('/api');
    await kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'y' } }, 'm');
    await kube.raw('GET', '/api/v1/pods', { query: { watch: true } }).then((r) => r.text());
    const seen = api.seen.slice(before);
    expect(seen.length).toBe(3);
    for (const r of seen) expect(r.headers['user-agent']).toBe(USER_AGENT);
    expect(USER_AGENT).toBe(`vstream/${VERSION}`);
  });
});
