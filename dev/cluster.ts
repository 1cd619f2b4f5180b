// A real Kubernetes control plane as local processes, for tests and `npm run dev`.
//   fast tier: etcd + kube-apiserver
//   full tier: + kube-controller-manager (GC, Deployments -> ReplicaSets -> Pods), kube-scheduler, and kwok with a fake
//              node, so pods are scheduled and reported Running/Ready without a kubelet.
//   node tier: the full tier's control plane with a real node instead of kwok (kubelet, kube-proxy, containerd, runc,
//              CNI, CoreDNS, images built here), all in network/mount/PID namespaces of their own (dev/node.ts); the
//              API server is reached through a forwarded port on 127.0.0.1.
// Or, with VSTREAM_USE_EXISTING_CLUSTER=true (envtest's USE_EXISTING_CLUSTER also works), the cluster $KUBECONFIG names.
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importImages, nodeImages } from './images.ts';
import { LocalVolumes } from './local-volumes.ts';
import {
  API_PORT,
  NODE_IP,
  NODE_NAME,
  NodeAgent,
  type NodeProc,
  nodePath,
  SERVICE_CIDR,
  writeNodeConfigs,
} from './node.ts';
import { kwokStages, type Tool, toolPath } from './tools.ts';

export type Tier = 'fast' | 'full' | 'node';

/** The real node of the node tier, for tests that need to reach inside it. */
export interface NodeAccess {
  name: string;
  ip: string;
  /** A port on the host's 127.0.0.1 relayed to host:port inside the node (a ClusterIP, pod IP, or 127.0.0.1 there). */
  forward(host: string, port: number): Promise<number>;
  /** Runs a command inside the node's namespaces. */
  exec(argv: string[]): Promise<{ code: number | null; out: string }>;
  /** URL of the same two, for other processes (dev/node.ts remoteForward/remoteExec). */
  control: string;
  /** The node's cgroup (under every hierarchy), removed when the tier stops. */
  cgroupRoot: string;
}

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
  /** ms from start() at which each phase was done (node tier: apiserver, images, node Ready, ...). */
  phases: Record<string, number>;
  /** Stops and starts kube-apiserver only (etcd keeps the data), as a restart of the API server would. */
  restartApiServer(): Promise<void>;
  /** The real node (node tier only). */
  node?: NodeAccess;
  stop(): Promise<void>;
}

export const FAKE_NODE = 'kwok-node-0';

/**
 * Ports this process has handed out. The kernel may give the same free port to two bind(0) calls in a row once the
 * first probe socket is closed, and a pod asks for seven: in one CI run a pod got one port for its auth hook and its
 * ops listener, and its sidecar exited on EADDRINUSE. So a port is handed out at most once per process.
 */
const handedOut = new Set<number>();

function probePort(): Promise<number> {
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

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = await probePort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no free loopback port not already handed out by this process after 1000 tries');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Proc = NodeProc;
/** Starts a component: a child process here, or one inside the node's namespaces (node tier). */
type Launch = (name: Tool, args: string[], env?: Record<string, string>) => Proc;

function localLauncher(logsDir: string): Launch {
  return (name, args) => {
    const log = createWriteStream(join(logsDir, `${name}.log`), { flags: 'a' });
    const child: ChildProcess = spawn(toolPath(name), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return {
      name,
      exited,
      exitCode: () => child.exitCode ?? (child.signalCode ? 128 : null),
      kill: (signal) => child.kill(signal),
    };
  };
}

function nodeLauncher(agent: NodeAgent, logsDir: string): Launch {
  return (name, args, env) => agent.launch(name, [toolPath(name), ...args], join(logsDir, `${name}.log`), env);
}

async function kill(p: Proc, timeoutMs = 10_000): Promise<void> {
  if (p.exitCode() !== null) return;
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
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
    const dead = procs.find((p) => p.exitCode() !== null);
    if (dead)
      throw new Error(
        `${dead.name} exited with ${dead.exitCode()} while waiting for ${what}; see ${logsDir}/${dead.name}.log`,
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
      phases: {},
      restartApiServer: async () => {
        throw new Error('cannot restart the API server of an existing cluster');
      },
      stop: async () => {},
    };
  }
  const timeoutMs =
    opts.timeoutMs ??
    Number(process.env.KUBEBUILDER_CONTROLPLANE_START_TIMEOUT_MS ?? (opts.tier === 'node' ? 180_000 : 60_000));
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'vstream-cluster-'));
  const logsDir = join(dir, 'logs');
  const certDir = join(dir, 'certs');
  mkdirSync(logsDir, { recursive: true });
  mkdirSync(certDir, { recursive: true });
  const procs: Proc[] = [];
  const phases: Record<string, number> = {};
  const mark = (phase: string) => {
    phases[phase] = Date.now() - started;
  };
  const onNode = opts.tier === 'node';
  let agent: NodeAgent | undefined;
  let volumes: LocalVolumes | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    volumes?.stop();
    // On the node, the agent stops everything in its namespaces (containers included) and removes the cgroups.
    if (agent) await agent.stop();
    else for (const p of [...procs].reverse()) await kill(p);
    if (!process.env.VSTREAM_KEEP_CLUSTER) rmSync(dir, { recursive: true, force: true });
  };
  const onExit = () => {
    for (const p of procs) p.kill('SIGKILL');
  };
  process.once('exit', onExit);

  try {
    if (onNode) agent = await NodeAgent.start(dir, logsDir);
  } catch (e) {
    await stop();
    throw e;
  }
  const launch = agent ? nodeLauncher(agent, logsDir) : localLauncher(logsDir);

  // Token auth instead of client certificates: Node can make RSA keys but not X.509 certificates, and the
  // API server generates its own serving certificate in --cert-dir.
  const token = randomBytes(24).toString('hex');
  const nodeTokens = { kubelet: randomBytes(24).toString('hex'), proxy: randomBytes(24).toString('hex') };
  writeFileSync(
    join(certDir, 'tokens.csv'),
    [
      `${token},admin,admin-uid,"system:masters"`,
      ...(onNode
        ? [
            `${nodeTokens.kubelet},system:node:${NODE_NAME},node-uid,"system:nodes"`,
            `${nodeTokens.proxy},system:kube-proxy,kube-proxy-uid`,
          ]
        : []),
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const kubeconfigFor = (file: string, server: string, userToken: string) => {
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'vstream-local', cluster: { server, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'admin', user: { token: userToken } }],
        contexts: [{ name: 'vstream-local', context: { cluster: 'vstream-local', user: 'admin' } }],
        'current-context': 'vstream-local',
      }),
      { mode: 0o600 },
    );
    return file;
  };

  // Inside the node's namespaces every port is ours: fixed ones, as on a kubeadm node.
  const [etcdPort, peerPort, apiPort] = onNode
    ? [2379, 2380, API_PORT]
    : await Promise.all([freePort(), freePort(), freePort()]);
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  procs.push(
    launch('etcd', [
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync=true',
      '--quota-backend-bytes=4294967296',
    ]),
  );

  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(certDir, 'sa.key'), sa.privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(certDir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
  // The URL components inside the cluster use, and the one the host uses (a forward into the node's namespace).
  const inside = `https://127.0.0.1:${apiPort}`;
  let nodeOpts: NodeOpts | undefined;
  let runtime: Promise<ReturnType<typeof writeNodeConfigs>> | undefined;
  if (agent) {
    nodeOpts = {
      dir,
      logsDir,
      kubeconfigs: {
        kubelet: kubeconfigFor(join(dir, 'kubeconfig.kubelet'), inside, nodeTokens.kubelet),
        proxy: kubeconfigFor(join(dir, 'kubeconfig.proxy'), inside, nodeTokens.proxy),
        // CoreDNS runs as a node component here, with the admin credential (no pod, no ServiceAccount).
        dns: kubeconfigFor(join(dir, 'kubeconfig.internal'), inside, token),
      },
      procs,
      timeoutMs,
      mark,
    };
    // containerd and the images need no API server: they get ready while the control plane boots.
    runtime = startRuntime(agent, launch, nodeOpts);
    runtime.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"
  }
  const apiArgs = [
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${certDir}`,
    `--secure-port=${apiPort}`,
    `--token-auth-file=${join(certDir, 'tokens.csv')}`,
    `--service-account-issuer=${inside}/`,
    `--service-account-key-file=${join(certDir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(certDir, 'sa.key')}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--allow-privileged=true',
    ...(onNode
      ? [
          // Pods reach it as the kubernetes Service (10.96.0.1 -> the node's address), like any cluster's.
          '--bind-address=0.0.0.0',
          `--advertise-address=${NODE_IP}`,
          '--authorization-mode=Node,RBAC',
          '--enable-admission-plugins=NodeRestriction',
          '--kubelet-preferred-address-types=InternalIP',
        ]
      : [
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          '--authorization-mode=RBAC',
          '--endpoint-reconciler-type=none',
        ]),
    // Without kube-controller-manager nobody creates the default ServiceAccount the admission plugin waits for.
    ...(opts.tier === 'fast' ? ['--disable-admission-plugins=ServiceAccount'] : []),
  ];
  let apiserver = launch('kube-apiserver', apiArgs);
  procs.push(apiserver);

  let server = inside;
  try {
    if (agent) server = `https://127.0.0.1:${await agent.forward('127.0.0.1', apiPort)}`;
  } catch (e) {
    await stop();
    throw e;
  }
  const kubeconfig = kubeconfigFor(join(dir, 'kubeconfig'), server, token);
  // What the control plane's own components use (inside the node's namespaces on the node tier).
  const internalKubeconfig = onNode ? kubeconfigFor(join(dir, 'kubeconfig.internal'), inside, token) : kubeconfig;

  const ready = async () => (await httpsGet(`${server}/readyz`, token)).status === 200;

  try {
    await waitFor('kube-apiserver /readyz', ready, procs, logsDir, timeoutMs);
    mark('apiserver');
    if (opts.tier !== 'fast') await startControllers(launch, internalKubeconfig, certDir, procs);
    if (opts.tier === 'full') await startKwok(launch, kubeconfig, server, token, procs, logsDir, timeoutMs);
    if (agent && runtime && nodeOpts) {
      await startKubelet(launch, await runtime, { ...nodeOpts, server, token });
      volumes = new LocalVolumes(kubeconfig, join(dir, 'volumes'));
      await volumes.start();
      mark('storage');
    }
    await waitFor(
      'default ServiceAccount (controller-manager)',
      async () =>
        opts.tier === 'fast' ||
        (await httpsGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, token)).status === 200,
      procs,
      logsDir,
      timeoutMs,
    );
    mark('ready');
    writeFileSync(join(logsDir, 'startup.json'), JSON.stringify(phases));
  } catch (e) {
    await stop();
    throw e;
  }

  const control = agent ? await agent.serveControl() : '';
  const node: NodeAccess | undefined = agent && {
    name: NODE_NAME,
    ip: NODE_IP,
    forward: (host, port) => agent.forward(host, port),
    exec: (argv) => agent.exec(argv),
    control,
    cgroupRoot: agent.cgroupRoot,
  };
  return {
    tier: opts.tier,
    kubeconfig,
    server,
    token,
    dir,
    logsDir,
    startMs: Date.now() - started,
    phases,
    async restartApiServer() {
      await kill(apiserver);
      procs.splice(procs.indexOf(apiserver), 1);
      apiserver = launch('kube-apiserver', apiArgs);
      procs.push(apiserver);
      await waitFor('kube-apiserver /readyz after restart', ready, procs, logsDir, timeoutMs);
    },
    ...(node ? { node } : {}),
    stop,
  };
}

async function startControllers(launch: Launch, kubeconfig: string, certDir: string, procs: Proc[]) {
  const common = [
    `--kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    '--leader-elect=false',
    '--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics',
  ];
  const [kcmPort, schedPort] = await Promise.all([freePort(), freePort()]);
  procs.push(
    launch('kube-controller-manager', [
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
    ]),
  );
  procs.push(
    launch('kube-scheduler', [...common, `--secure-port=${schedPort}`, '--kube-api-qps=400', '--kube-api-burst=800']),
  );
}

async function startKwok(
  launch: Launch,
  kubeconfig: string,
  server: string,
  token: string,
  procs: Proc[],
  logsDir: string,
  timeoutMs: number,
) {
  const kwokPort = await freePort();
  procs.push(
    launch('kwok', [
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
    ]),
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
}

interface NodeOpts {
  dir: string;
  logsDir: string;
  kubeconfigs: { kubelet: string; proxy: string; dns: string };
  procs: Proc[];
  timeoutMs: number;
  mark: (phase: string) => void;
}

/**
 * containerd with every image the node needs imported (nothing can be pulled: the pause image, pinned as the sandbox
 * image, and the images tests run are built here). Needs no API server, so it runs while the control plane boots.
 */
async function startRuntime(agent: NodeAgent, launch: Launch, o: NodeOpts) {
  const cfg = writeNodeConfigs({
    dir: o.dir,
    logsDir: o.logsDir,
    cgroupRoot: agent.cgroupRoot,
    kubeconfigs: o.kubeconfigs,
  });
  o.procs.push(launch('containerd', ['--config', cfg.containerd], { PATH: nodePath() }));
  const ctr = [toolPath('ctr'), '--address', cfg.containerdSock];
  await waitFor(
    'containerd',
    async () => (await agent.exec([...ctr, 'version'])).code === 0,
    o.procs,
    o.logsDir,
    o.timeoutMs,
  );
  o.mark('containerd');
  const images = await nodeImages();
  o.mark('images built');
  await importImages(images, (tar) => agent.execOk([...ctr, '-n', 'k8s.io', 'images', 'import', tar]));
  o.mark('images imported');
  return cfg;
}

/** kubelet, kube-proxy and CoreDNS, once the API server answers; returns when the node is Ready. */
async function startKubelet(
  launch: Launch,
  cfg: ReturnType<typeof writeNodeConfigs>,
  o: NodeOpts & { server: string; token: string },
) {
  o.procs.push(
    launch('kubelet', [
      `--config=${cfg.kubelet}`,
      `--kubeconfig=${o.kubeconfigs.kubelet}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_IP}`,
    ]),
  );
  o.procs.push(launch('kube-proxy', [`--config=${cfg.proxy}`]));
  o.procs.push(launch('coredns', ['-conf', cfg.corefile]));
  await waitFor(
    `node ${NODE_NAME} Ready (kubelet)`,
    async () => {
      const r = await httpsGet(`${o.server}/api/v1/nodes/${NODE_NAME}`, o.token);
      const node = JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string }[] } };
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    },
    o.procs,
    o.logsDir,
    o.timeoutMs,
  );
  o.mark('node Ready');
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
