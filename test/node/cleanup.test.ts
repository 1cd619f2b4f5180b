// A real node must leave nothing on the machine, even when the process that started it dies without cleaning up:
// its processes, mounts and iptables rules live in namespaces that die with the agent, and the agent, seeing its
// parent gone, removes the node's cgroups before it exits.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../dev/tools.ts';
import { waitUntil } from '../support/kube.ts';

const script = `
import { startCluster } from ${JSON.stringify(join(REPO_ROOT, 'dev/cluster.ts'))};
const c = await startCluster({ tier: 'node' });
console.log(JSON.stringify({ dir: c.dir, cgroupRoot: c.node.cgroupRoot }));
setInterval(() => {}, 1000);
`;

const processesMentioning = (needle: string) =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle);
      } catch {
        return false;
      }
    });

describe('a real node whose starter is SIGKILLed', () => {
  it('takes its processes, mounts and cgroups with it', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, VSTREAM_KEEP_CLUSTER: '' },
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
      child.once('exit', (code) => reject(new Error(`the starter exited with ${code} before the node was up`)));
    });
    const { dir, cgroupRoot } = JSON.parse(line) as { dir: string; cgroupRoot: string };
    expect(processesMentioning(dir).length).toBeGreaterThan(3); // etcd, apiserver, kubelet, containerd, ...
    child.kill('SIGKILL');
    await waitUntil('node processes gone', async () => processesMentioning(dir).length === 0, 60_000, 250);
    await waitUntil(
      'node cgroups removed',
      async () =>
        !existsSync(join('/sys/fs/cgroup', cgroupRoot)) && // v2
        readdirSync('/sys/fs/cgroup').every((h) => !existsSync(join('/sys/fs/cgroup', h, cgroupRoot))), // v1
      30_000,
      250,
    );
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
    rmSync(dir, { recursive: true, force: true }); // files only: what the dead starter would have removed
  }, 120_000);
});
