// The real-node tier's agent: runs INSIDE the node's own network, mount and PID namespaces (as a kind node
// container's processes do), started by dev/node.ts as
//   unshare --net --mount --pid --fork --kill-child --mount-proc --propagation private -- pause -- node node-agent.ts
// and driven over the Node IPC channel it inherits. It
//   - sets the namespaces up: loopback, a node address on a veth whose peer leads nowhere (so nothing in here has a
//     route out of the namespace), a private /var on tmpfs, shared mount propagation, the node's cgroup root;
//   - spawns and stops the cluster's processes (etcd ... kubelet, kube-proxy, containerd) as its children;
//   - forwards connections from listening sockets the harness created on the HOST's 127.0.0.1 (handed over through
//     the IPC channel) to addresses inside the namespace: the API server, Service ClusterIPs, NodePorts, pods;
//   - on shutdown, or when the harness goes away, kills everything in the PID namespace and removes the cgroups.
// When it exits, pause (PID 1) exits and the kernel tears the namespaces down with every mount and iptables rule.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

export interface AgentConfig {
  /** Node address inside the namespace (CIDR), e.g. 172.30.0.2/24; the gateway is the .1 that nothing answers. */
  nodeCidr: string;
  /** cgroup (v1, every hierarchy) under which kubelet puts pods, relative to each hierarchy's root. */
  cgroupRoot: string;
  /** Host directories bind-mounted over paths of the private /var (e.g. /var/lib/kubelet -> <dir>/kubelet). */
  binds: Record<string, string>;
  /** Where forwarded connections may go: CIDRs inside the namespace (loopback, node, pods, Services). */
  allow: string[];
}

export type AgentRequest =
  | { op: 'spawn'; id: string; argv: string[]; env?: Record<string, string>; log: string; cwd?: string }
  | { op: 'kill'; id: string; signal: NodeJS.Signals }
  | { op: 'exec'; id: string; argv: string[] }
  | { op: 'forward'; id: string; host: string; port: number }
  | { op: 'shutdown' };

export type AgentEvent =
  | { ev: 'ready' }
  | { ev: 'failed'; error: string }
  | { ev: 'spawned'; id: string; pid: number }
  | { ev: 'exit'; id: string; code: number | null; signal: string | null }
  | { ev: 'exec'; id: string; code: number | null; out: string }
  | { ev: 'forwarding'; id: string; error?: string }
  | { ev: 'stopped' };

function ipv4(a: string): number {
  return a.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
}
export function inCidr(addr: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(addr)) return false;
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return (ipv4(addr) & mask) === (ipv4(base!) & mask);
}

const CGROUP_FS = '/sys/fs/cgroup';
/** cgroup v2 (one unified hierarchy, e.g. CI runners) or v1 (one per controller, as on these machines). */
const unified = () => existsSync(join(CGROUP_FS, 'cgroup.controllers'));
/** Every mounted cgroup hierarchy: '' for v2's single one; cpu, memory, ..., the named systemd one for v1. */
function hierarchies(): string[] {
  if (unified()) return [''];
  return readdirSync(CGROUP_FS).filter((h) => {
    try {
      return existsSync(join(CGROUP_FS, h, 'cgroup.procs'));
    } catch {
      return false;
    }
  });
}

export function createCgroupRoot(root: string): void {
  if (unified()) {
    // v2: controllers must be enabled for the subtree kubelet builds below the root.
    const dir = join(CGROUP_FS, root);
    mkdirSync(dir, { recursive: true });
    const available = readFileSync(join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
    if (available.length) writeFileSync(join(dir, 'cgroup.subtree_control'), available.map((c) => `+${c}`).join(' '));
    return;
  }
  for (const h of hierarchies()) {
    const dir = join(CGROUP_FS, h, root);
    mkdirSync(dir, { recursive: true });
    if (h === 'cpuset') {
      // A cpuset v1 child starts empty: copy the parent's CPUs and memory nodes, or no task may join it.
      for (const f of ['cpuset.cpus', 'cpuset.mems'])
        writeFileSync(join(dir, f), readFileSync(join(CGROUP_FS, h, f), 'utf8').trim() || '0');
    }
  }
}

/** Removes the cgroup subtree in every hierarchy, deepest first; true when nothing is left. */
export function removeCgroupRoot(root: string): boolean {
  let clean = true;
  const rm = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rm(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch {
      clean = false;
    }
  };
  for (const h of hierarchies()) rm(join(CGROUP_FS, h, root));
  return clean;
}

function cgroupHasTasks(root: string): boolean {
  const walk = (dir: string): boolean => {
    if (!existsSync(dir)) return false;
    try {
      if (readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim()) return true;
    } catch {
      return false;
    }
    return readdirSync(dir, { withFileTypes: true }).some((e) => e.isDirectory() && walk(join(dir, e.name)));
  };
  return hierarchies().some((h) => walk(join(CGROUP_FS, h, root)));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(argv: string[]) {
  execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
}

function setUp(cfg: AgentConfig) {
  // Mounts: our namespace is private (unshare --propagation private); make it shared within itself, as kubelet
  // expects of its root dir, then give the node a /var of its own so nothing it writes there reaches the host.
  run(['mount', '--make-rshared', '/']);
  run(['mount', '-t', 'tmpfs', '-o', 'mode=755', 'tmpfs', '/var']);
  run(['mount', '-t', 'tmpfs', '-o', 'mode=755', 'tmpfs', '/run']);
  for (const d of ['/var/lib', '/var/log', '/var/tmp', '/run/netns']) mkdirSync(d, { recursive: true });
  run(['ln', '-s', '/run', '/var/run']);
  for (const [target, source] of Object.entries(cfg.binds)) {
    mkdirSync(source, { recursive: true });
    mkdirSync(target, { recursive: true });
    run(['mount', '--bind', source, target]);
  }
  // Network: loopback, and a node address whose only way "out" is a veth peer that leads nowhere.
  const [addr, bits] = cfg.nodeCidr.split('/');
  const gw = addr!.replace(/\.\d+$/, '.1');
  run(['ip', 'link', 'set', 'lo', 'up']);
  run(['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0-peer']);
  run(['ip', 'addr', 'add', `${addr}/${bits}`, 'dev', 'eth0']);
  run(['ip', 'link', 'set', 'eth0', 'up']);
  run(['ip', 'link', 'set', 'eth0-peer', 'up']);
  run(['ip', 'route', 'add', 'default', 'via', gw, 'dev', 'eth0']);
  for (const [k, v] of [
    ['net/ipv4/ip_forward', '1'],
    ['net/bridge/bridge-nf-call-iptables', '1'],
    ['net/bridge/bridge-nf-call-ip6tables', '1'],
  ]) {
    try {
      writeFileSync(`/proc/sys/${k}`, v!);
    } catch {
      // reported by kube-proxy if it matters
    }
  }
  createCgroupRoot(cfg.cgroupRoot);
}

function main() {
  // After the harness is gone, process.send would emit an 'error' that kills us half-way through the clean-up.
  const send = (e: AgentEvent) => {
    if (process.connected) process.send?.(e);
  };
  const cfg = JSON.parse(process.argv[2]!) as AgentConfig;
  const children = new Map<string, ChildProcess>();
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  let stopping = false;

  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`[node-agent] shutting down: ${why}`);
    for (const s of servers) s.close();
    for (const s of sockets) s.destroy();
    for (const c of children.values()) c.kill('SIGTERM');
    const deadline = Date.now() + 5000;
    while ([...children.values()].some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline)
      await sleep(50);
    // Everything else in the PID namespace (containerd's shims, the containers in their own nested namespaces).
    try {
      process.kill(-1, 'SIGKILL');
    } catch {
      // nothing left
    }
    const cgDeadline = Date.now() + 10_000;
    while (cgroupHasTasks(cfg.cgroupRoot) && Date.now() < cgDeadline) await sleep(50);
    const clean = removeCgroupRoot(cfg.cgroupRoot);
    console.error(`[node-agent] stopped; cgroups ${clean ? 'removed' : 'NOT all removed'}`);
    send({ ev: 'stopped' });
    process.exit(0);
  };

  try {
    setUp(cfg);
  } catch (e) {
    const err = e as { message: string; stderr?: Buffer };
    send({ ev: 'failed', error: `${err.message}${err.stderr ? `: ${err.stderr}` : ''}` });
    removeCgroupRoot(cfg.cgroupRoot);
    process.exit(1);
  }

  process.on('disconnect', () => void shutdown('the harness is gone (IPC channel closed)'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('message', (m: AgentRequest, handle?: unknown) => {
    if (stopping) return;
    switch (m.op) {
      case 'spawn': {
        const fd = openSync(m.log, 'a');
        const child = spawn(m.argv[0]!, m.argv.slice(1), {
          stdio: ['ignore', fd, fd],
          env: { ...process.env, ...m.env },
          ...(m.cwd ? { cwd: m.cwd } : {}),
        });
        children.set(m.id, child);
        child.on('error', (e) => send({ ev: 'exit', id: m.id, code: 127, signal: e.message }));
        child.on('exit', (code, signal) => send({ ev: 'exit', id: m.id, code, signal }));
        if (child.pid) send({ ev: 'spawned', id: m.id, pid: child.pid });
        break;
      }
      case 'kill':
        children.get(m.id)?.kill(m.signal);
        break;
      case 'exec': {
        const child = spawn(m.argv[0]!, m.argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
        });
        child.stderr.on('data', (d) => {
          out += d;
        });
        child.on('error', (e) => send({ ev: 'exec', id: m.id, code: 127, out: e.message }));
        child.on('close', (code) => send({ ev: 'exec', id: m.id, code, out }));
        break;
      }
      case 'forward': {
        const server = handle as Server;
        if (!cfg.allow.some((c) => m.host === 'localhost' || inCidr(m.host, c))) {
          server.close();
          send({ ev: 'forwarding', id: m.id, error: `refusing to forward to ${m.host}: outside ${cfg.allow}` });
          break;
        }
        servers.push(server);
        server.on('connection', (down: Socket) => {
          const up = connect({ host: m.host, port: m.port });
          sockets.add(down).add(up);
          const done = () => {
            down.destroy();
            up.destroy();
            sockets.delete(down);
            sockets.delete(up);
          };
          down.on('error', done).on('close', done);
          up.on('error', done).on('close', done);
          down.pipe(up);
          up.pipe(down);
        });
        send({ ev: 'forwarding', id: m.id });
        break;
      }
      case 'shutdown':
        void shutdown('asked to');
        break;
    }
  });
  send({ ev: 'ready' });
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) main();
