// A real Kubernetes control plane as local processes, for tests and `npm run dev`.
//   fast tier: etcd + kube-apiserver
//   full tier: + kube-controller-manager (GC, Deployments -> ReplicaSets -> Pods), kube-scheduler, and kwok with a fake
//              node, so pods are scheduled and reported Running/Ready without a kubelet.
// Or, with VSTREAM_USE_EXISTING_CLUSTER=true (envtest's USE_EXISTING_CLUSTER also works), the cluster $KUBECONFIG names.
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kwokStages, type Tool, toolPath } from './tools.ts';

export type Tier = 'fast' | 'full';

export interface Cluster {
  tier: Tier | 'existing';
  kubeconfig: string;
  server: string;
  /** Bearer token of a system:masters user (empty for an existing cluster). */
  token: string;
  dir: string;
  logsDir: string;
  /** Wall time from start() to ready, in ms. */
  startMs: number;
  /** Stops and starts kube-apiserver only (etcd keeps the data), as a restart of the API server would. */
  restartApiServer(): Promise<void>;
  stop(): Promise<void>;
}

export const FAKE_NODE = 'kwok-node-0';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Proc {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

function launch(name: Tool, args: string[], logsDir: string): Proc {
  const log = createWriteStream(join(logsDir, `${name}.log`), { flags: 'a' });
  const child = spawn(toolPath(name), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { name, child, exited };
}

async function kill(p: Proc, timeoutMs = 10_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  await p.exited;
  clearTimeout(t);
}

/** GET over TLS without verifying the API server's self-signed certificate. */
export function httpsGet(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` }, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, procs: Proc[], logsDir: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const dead = procs.find((p) => p.child.exitCode !== null);
    if (dead)
      throw new Error(
        `${dead.name} exited with ${dead.child.exitCode} while waiting for ${what}; see ${logsDir}/${dead.name}.log`,
      );
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}; logs in ${logsDir}`);
}

export function useExistingCluster(): boolean {
  return /^(1|true)$/i.test(process.env.VSTREAM_USE_EXISTING_CLUSTER ?? process.env.USE_EXISTING_CLUSTER ?? '');
}

export async function startCluster(opts: { tier: Tier; dir?: string; timeoutMs?: number }): Promise<Cluster> {
  const started = Date.now();
  if (useExistingCluster()) {
    const kubeconfig = process.env.KUBECONFIG ?? join(process.env.HOME ?? '', '.kube/config');
    return {
      tier: 'existing',
      kubeconfig,
      server: '',
      token: '',
      dir: '',
      logsDir: '',
      startMs: 0,
      restartApiServer: async () => {
        throw new Error('cannot restart the API server of an existing cluster');
      },
      stop: async () => {},
    };
  }
  const timeoutMs = opts.timeoutMs ?? Number(process.env.KUBEBUILDER_CONTROLPLANE_START_TIMEOUT_MS ?? 60_000);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'vstream-cluster-'));
  const logsDir = join(dir, 'logs');
  const certDir = join(dir, 'certs');
  mkdirSync(logsDir, { recursive: true });
  mkdirSync(certDir, { recursive: true });
  const procs: Proc[] = [];

  const [etcdPort, peerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  procs.push(
    launch(
      'etcd',
      [
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
        '--unsafe-no-fsync=true',
        '--quota-backend-bytes=4294967296',
      ],
      logsDir,
    ),
  );

  // Token auth instead of client certificates: Node can make RSA keys but not X.509 certificates, and the
  // API server generates its own serving certificate in --cert-dir.
  const token = randomBytes(24).toString('hex');
  writeFileSync(join(certDir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(certDir, 'sa.key'), sa.privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(certDir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
  const server = `https://127.0.0.1:${apiPort}`;
  const apiArgs = [
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${certDir}`,
    `--secure-port=${apiPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    '--service-cluster-ip-range=10.96.0.0/16',
    '--allow-privileged=true',
    '--authorization-mode=RBAC',
    `--token-auth-file=${join(certDir, 'tokens.csv')}`,
    `--service-account-issuer=${server}/`,
    `--service-account-key-file=${join(certDir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(certDir, 'sa.key')}`,
    // Without kube-controller-manager nobody creates the default ServiceAccount the admission plugin waits for.
    ...(opts.tier === 'fast' ? ['--disable-admission-plugins=ServiceAccount'] : []),
    '--endpoint-reconciler-type=none',
  ];
  let apiserver = launch('kube-apiserver', apiArgs, logsDir);
  procs.push(apiserver);

  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'vstream-local', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'admin', user: { token } }],
      contexts: [{ name: 'vstream-local', context: { cluster: 'vstream-local', user: 'admin' } }],
      'current-context': 'vstream-local',
    }),
    { mode: 0o600 },
  );

  const ready = async () => (await httpsGet(`${server}/readyz`, token)).status === 200;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const p of [...procs].reverse()) await kill(p);
    if (!process.env.VSTREAM_KEEP_CLUSTER) rmSync(dir, { recursive: true, force: true });
  };
  const onExit = () => {
    for (const p of procs) p.child.kill('SIGKILL');
  };
  process.once('exit', onExit);

  try {
    await waitFor('kube-apiserver /readyz', ready, procs, logsDir, timeoutMs);
    if (opts.tier === 'full') await startFullTier(kubeconfig, certDir, server, token, procs, logsDir, timeoutMs);
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    tier: opts.tier,
    kubeconfig,
    server,
    token,
    dir,
    logsDir,
    startMs: Date.now() - started,
    async restartApiServer() {
      await kill(apiserver);
      procs.splice(procs.indexOf(apiserver), 1);
      apiserver = launch('kube-apiserver', apiArgs, logsDir);
      procs.push(apiserver);
      await waitFor('kube-apiserver /readyz after restart', ready, procs, logsDir, timeoutMs);
    },
    stop,
  };
}

async function startFullTier(
  kubeconfig: string,
  certDir: string,
  server: string,
  token: string,
  procs: Proc[],
  logsDir: string,
  timeoutMs: number,
) {
  const [kcmPort, schedPort, kwokPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const common = [
    `--kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    '--leader-elect=false',
    '--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics',
  ];
  procs.push(
    launch(
      'kube-controller-manager',
      [
        ...common,
        `--secure-port=${kcmPort}`,
        `--service-account-private-key-file=${join(certDir, 'sa.key')}`,
        `--root-ca-file=${join(certDir, 'apiserver.crt')}`,
        '--use-service-account-credentials=false',
        // The node IPAM and cloud controllers want a real network; everything else (GC, workloads, SAs) runs.
        '--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller',
        '--concurrent-deployment-syncs=10',
        '--concurrent-replicaset-syncs=10',
        '--concurrent-gc-syncs=40',
        '--kube-api-qps=400',
        '--kube-api-burst=800',
      ],
      logsDir,
    ),
  );
  procs.push(
    launch(
      'kube-scheduler',
      [...common, `--secure-port=${schedPort}`, '--kube-api-qps=400', '--kube-api-burst=800'],
      logsDir,
    ),
  );
  procs.push(
    launch(
      'kwok',
      [
        `--kubeconfig=${kubeconfig}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        '--manage-nodes-with-label-selector=',
        '--manage-single-node=',
        '--cidr=10.244.0.0/16',
        '--node-ip=10.0.0.1',
        '--node-lease-duration-seconds=40',
        `--server-address=127.0.0.1:${kwokPort}`,
        `--config=${kwokStages()}`,
      ],
      logsDir,
    ),
  );
  const fakeNode = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: FAKE_NODE,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': FAKE_NODE,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
      },
    },
    spec: {},
    status: {
      allocatable: { cpu: '64', memory: '256Gi', pods: '2000' },
      capacity: { cpu: '64', memory: '256Gi', pods: '2000' },
    },
  };
  await postJson(`${server}/api/v1/nodes`, token, fakeNode);
  await waitFor(
    `node ${FAKE_NODE} Ready (kwok)`,
    async () => {
      const r = await httpsGet(`${server}/api/v1/nodes/${FAKE_NODE}`, token);
      const node = JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string }[] } };
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    },
    procs,
    logsDir,
    timeoutMs,
  );
  await waitFor(
    'default ServiceAccount (controller-manager)',
    async () => (await httpsGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, token)).status === 200,
    procs,
    logsDir,
    timeoutMs,
  );
}

function postJson(url: string, token: string, body: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = request(
      url,
      {
        method: 'POST',
        rejectUnauthorized: false,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode && res.statusCode < 300 ? resolve() : reject(new Error(`POST ${url}: HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** Last lines of a component's log, for test failure messages. */
export function tailLog(cluster: Cluster, component: string, lines = 40): string {
  try {
    return readFileSync(join(cluster.logsDir, `${component}.log`), 'utf8')
      .split('\n')
      .slice(-lines)
      .join('\n');
  } catch {
    return '';
  }
}
