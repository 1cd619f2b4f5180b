// The real-node tier's node: kubelet, kube-proxy, containerd + runc, CNI (bridge, host-local, loopback, portmap) and
// CoreDNS, with the control plane, all inside network, mount and PID namespaces of their own (dev/node-agent.ts), as a
// kind node container would hold them. Nothing of it is on the host's network: the host reaches the API server, and
// any Service, NodePort or pod a test asks for, through listening sockets on 127.0.0.1 that the agent serves.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { AgentConfig, AgentEvent, AgentRequest } from './node-agent.ts';
import { removeCgroupRoot } from './node-agent.ts';
import { cniBinDir, REPO_ROOT, type Tool, toolPath } from './tools.ts';

export const NODE_NAME = 'vstream-node';
/** The node's address inside its namespace; its "gateway" (.1) is a veth peer that leads nowhere. */
export const NODE_IP = '172.30.0.2';
export const POD_CIDR = '10.244.0.0/24';
export const CLUSTER_CIDR = '10.244.0.0/16';
export const SERVICE_CIDR = '10.96.0.0/16';
export const API_PORT = 6443;
/** Cluster DNS (CoreDNS as a node process on the node address, as kubelet's clusterDNS). */
export const DNS_IP = NODE_IP;
export const PAUSE_IMAGE = 'localhost/vstream/pause:1.0.0';

export interface NodeProc {
  name: string;
  exited: Promise<number | null>;
  /** null while running. */
  exitCode(): number | null;
  kill(signal: NodeJS.Signals): void;
}

/** Asks the harness's control endpoint (NodeAgent.serveControl) for a forward into the node, from any process. */
export async function remoteForward(control: string, host: string, port: number): Promise<number> {
  const res = await fetch(`${control}/forward`, { method: 'POST', body: JSON.stringify({ host, port }) });
  if (!res.ok) throw new Error(`forward to ${host}:${port}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { port: number }).port;
}

export async function remoteExec(control: string, argv: string[]): Promise<{ code: number | null; out: string }> {
  const res = await fetch(`${control}/exec`, { method: 'POST', body: JSON.stringify({ argv }) });
  if (!res.ok) throw new Error(`exec ${argv.join(' ')}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { code: number | null; out: string };
}

/** The agent inside the namespaces: spawns processes there, runs commands, forwards host connections in. */
export class NodeAgent {
  private readonly child: ChildProcess;
  private readonly pending = new Map<string, (e: AgentEvent) => void>();
  private readonly exits = new Map<string, (code: number | null) => void>();
  private readonly codes = new Map<string, number | null>();
  private readonly servers: Server[] = [];
  private seq = 0;
  readonly stopped: Promise<void>;
  readonly cgroupRoot: string;

  private constructor(child: ChildProcess, cgroupRoot: string) {
    this.child = child;
    this.cgroupRoot = cgroupRoot;
    this.stopped = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('message', (e: AgentEvent) => {
      if (e.ev === 'exit') {
        this.codes.set(e.id, e.code ?? (e.signal ? 128 : null));
        this.exits.get(e.id)?.(e.code);
        return;
      }
      if ('id' in e) this.pending.get(e.id)?.(e);
    });
  }

  static async start(dir: string, logsDir: string): Promise<NodeAgent> {
    const cgroupRoot = `vstream-node-${randomBytes(4).toString('hex')}`;
    const cfg: AgentConfig = {
      nodeCidr: `${NODE_IP}/24`,
      cgroupRoot,
      binds: { '/var/lib/kubelet': join(dir, 'kubelet'), '/var/log/pods': join(logsDir, 'pods') },
      allow: ['127.0.0.0/8', `${NODE_IP}/32`, CLUSTER_CIDR, SERVICE_CIDR],
    };
    // The agent writes its log itself: it must outlive this process (it cleans up when we die).
    const log = openSync(join(logsDir, 'node-agent.log'), 'a');
    const child = spawn(
      'unshare',
      [
        '--net',
        '--mount',
        '--pid',
        '--fork',
        '--kill-child',
        '--mount-proc',
        '--propagation',
        'private',
        '--',
        toolPath('pause'),
        '--',
        process.execPath,
        join(REPO_ROOT, 'dev/node-agent.ts'),
        JSON.stringify(cfg),
      ],
      { stdio: ['ignore', log, log, 'ipc'] },
    );
    closeSync(log);
    const agent = new NodeAgent(child, cgroupRoot);
    const first = await new Promise<AgentEvent | { ev: 'gone'; code: number | null }>((resolve) => {
      child.once('message', resolve);
      child.once('exit', (code) => resolve({ ev: 'gone', code }));
    });
    if (first.ev !== 'ready') {
      await agent.stop();
      throw new Error(
        `the node's namespaces could not be set up: ${first.ev === 'failed' ? first.error : `agent exited with ${(first as { code: number | null }).code}`}; see ${logsDir}/node-agent.log`,
      );
    }
    return agent;
  }

  private request<E extends AgentEvent>(req: AgentRequest & { id: string }, handle?: Server): Promise<E> {
    return new Promise((resolve, reject) => {
      if (!this.child.connected) return reject(new Error('node agent is gone'));
      this.pending.set(req.id, (e) => {
        this.pending.delete(req.id);
        resolve(e as E);
      });
      this.child.send(req, handle as never);
    });
  }

  launch(name: string, argv: string[], log: string, env: Record<string, string> = {}): NodeProc {
    const id = `${name}-${++this.seq}`;
    const exited = new Promise<number | null>((resolve) => this.exits.set(id, resolve));
    this.child.send({ op: 'spawn', id, argv, env, log } satisfies AgentRequest);
    return {
      name,
      exited,
      exitCode: () => (this.codes.has(id) ? (this.codes.get(id) ?? 1) : this.child.connected ? null : 1),
      kill: (signal) => {
        if (this.child.connected) this.child.send({ op: 'kill', id, signal } satisfies AgentRequest);
      },
    };
  }

  /** Runs a command inside the namespaces to completion. */
  async exec(argv: string[]): Promise<{ code: number | null; out: string }> {
    const e = await this.request<Extract<AgentEvent, { ev: 'exec' }>>({ op: 'exec', id: `exec-${++this.seq}`, argv });
    return { code: e.code, out: e.out };
  }

  async execOk(argv: string[]): Promise<string> {
    const r = await this.exec(argv);
    if (r.code !== 0) throw new Error(`${argv.join(' ')} (in the node) exited with ${r.code}: ${r.out}`);
    return r.out;
  }

  /** A port on the host's 127.0.0.1 whose connections the agent relays to host:port inside the node's namespace. */
  async forward(host: string, port: number, hostPort = 0): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(hostPort, '127.0.0.1', resolve);
    });
    const local = (server.address() as { port: number }).port;
    const e = await this.request<Extract<AgentEvent, { ev: 'forwarding' }>>(
      { op: 'forward', id: `fwd-${++this.seq}`, host, port },
      server,
    );
    // The agent holds its own copy of the listening socket now; ours must not accept anything.
    server.close();
    if (e.error) throw new Error(e.error);
    return local;
  }

  /**
   * An HTTP endpoint on 127.0.0.1 through which other processes (vitest's workers: only the process that started the
   * agent holds its IPC channel) ask for forwards and commands: POST <url>/forward {host, port} -> {port};
   * POST <url>/exec {argv} -> {code, out}. The URL carries a random secret.
   */
  async serveControl(): Promise<string> {
    const secret = randomBytes(16).toString('hex');
    const server = createHttpServer(async (req, res) => {
      let body = '';
      for await (const c of req) body += c;
      try {
        const m = JSON.parse(body || '{}') as { host?: string; port?: number; argv?: string[] };
        let out: unknown;
        if (req.method === 'POST' && req.url === `/${secret}/forward`)
          out = { port: await this.forward(m.host!, m.port!) };
        else if (req.method === 'POST' && req.url === `/${secret}/exec`) out = await this.exec(m.argv!);
        else {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
      } catch (e) {
        res.writeHead(500).end((e as Error).message);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.servers.push(server as unknown as Server);
    return `http://127.0.0.1:${(server.address() as { port: number }).port}/${secret}`;
  }

  async stop(): Promise<void> {
    for (const s of this.servers) s.close();
    if (this.child.exitCode === null && this.child.signalCode === null) {
      if (this.child.connected) this.child.send({ op: 'shutdown' } satisfies AgentRequest);
      const t = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
      await this.stopped;
      clearTimeout(t);
    }
    // The agent removes the cgroups; if it could not (killed), whatever is left goes here.
    removeCgroupRoot(this.cgroupRoot);
  }
}

const toml = (s: string) => JSON.stringify(s);

/** Config files of the node's components, written into dir/node; returns their paths. */
export function writeNodeConfigs(opts: {
  dir: string;
  logsDir: string;
  cgroupRoot: string;
  kubeconfigs: { kubelet: string; proxy: string; dns: string };
}) {
  const { dir } = opts;
  const cfgDir = join(dir, 'node');
  const cniConf = join(cfgDir, 'cni');
  mkdirSync(cniConf, { recursive: true });
  const containerdSock = join(dir, 'containerd.sock');
  const containerd = join(cfgDir, 'containerd.toml');
  writeFileSync(
    containerd,
    `version = 3
# On the node's private /var (tmpfs): images unpack in ~2 s instead of 3-10 s on this disk, and vanish with it.
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = ${toml(containerdSock)}
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = ${toml(PAUSE_IMAGE)}
[plugins.'io.containerd.cri.v1.runtime']
  # No CAP_SYS_RESOURCE in this sandbox: runc may not lower oom_score_adj below containerd's own.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = ${toml(toolPath('runc'))}
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [${toml(cniBinDir())}]
    conf_dir = ${toml(cniConf)}
`,
  );
  writeFileSync(
    join(cniConf, '10-vstream.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'vstream',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          // Pods are not NATed out: there is no "out" from the node's namespace anyway.
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: POD_CIDR }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: '/var/lib/cni/networks',
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }),
  );
  const kubelet = join(cfgDir, 'kubelet.json');
  writeFileSync(
    kubelet,
    JSON.stringify({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      // cgroup v1 with cgroupfs on these machines (kubelet 1.35+ refuses v1 unless told).
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      cgroupRoot: `/${opts.cgroupRoot}`,
      failSwapOn: false,
      containerRuntimeEndpoint: `unix://${containerdSock}`,
      // Reachable only inside the node's namespace (the API server's port-forward/logs/exec go through it).
      authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
      authorization: { mode: 'AlwaysAllow' },
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      clusterDNS: [DNS_IP],
      clusterDomain: 'cluster.local',
      // Pods' upstream resolver: none (nothing outside the namespace answers).
      resolvConf: '',
      podLogsDir: '/var/log/pods',
      volumePluginDir: '/var/lib/kubelet/volume-plugins',
      evictionHard: {
        'memory.available': '100Mi',
        'nodefs.available': '0%',
        'nodefs.inodesFree': '0%',
        'imagefs.available': '0%',
      },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      serializeImagePulls: false,
      // ConfigMap/Secret volume refresh (default 1m): what MediaMTX's hot reload and token rotation wait for.
      syncFrequency: '10s',
      shutdownGracePeriod: '0s',
      maxPods: 110,
    }),
  );
  const proxy = join(cfgDir, 'kube-proxy.json');
  writeFileSync(
    proxy,
    JSON.stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: opts.kubeconfigs.proxy },
      mode: 'iptables',
      clusterCIDR: CLUSTER_CIDR,
      hostnameOverride: NODE_NAME,
      bindAddress: NODE_IP,
      // NodePorts answer on the node's loopback (route_localnet) and on its address.
      nodePortAddresses: ['127.0.0.0/8', `${NODE_IP}/32`],
      metricsBindAddress: '127.0.0.1:10249',
      healthzBindAddress: '127.0.0.1:10256',
      // nf_conntrack_max is read-only outside the initial network namespace: leave conntrack sysctls alone.
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    }),
  );
  const corefile = join(cfgDir, 'Corefile');
  writeFileSync(
    corefile,
    `.:53 {
    errors
    health 127.0.0.1:8080
    ready 127.0.0.1:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${opts.kubeconfigs.dns}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
`,
  );
  return { containerd, containerdSock, kubelet, proxy, corefile };
}

/** PATH for containerd: it finds its shim (and the shim finds runc through the config) there. */
export function nodePath(): string {
  const dirs = (['containerd-shim-runc-v2', 'runc'] as Tool[]).map((t) => toolPath(t).replace(/\/[^/]+$/, ''));
  return [...dirs, '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':');
}
