// Finds the control-plane binaries the way envtest does (TEST_ASSET_<NAME>, then $KUBEBUILDER_ASSETS/<name>), and
// otherwise in vstream's version-keyed cache, which tools/build.sh fills.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = new URL('../', import.meta.url).pathname;

export type Tool =
  | 'kube-apiserver'
  | 'etcd'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kwok'
  | 'helm'
  | 'mediamtx'
  | 'authload'
  | 'kubelet'
  | 'kube-proxy'
  | 'containerd'
  | 'containerd-shim-runc-v2'
  | 'ctr'
  | 'runc'
  | 'pause'
  | 'coredns'
  | 'promtool'
  | 'prometheus'
  | 'helm-docs'
  | 'ct';
const FAMILY: Record<Tool, string> = {
  'kube-apiserver': 'kube',
  'kube-controller-manager': 'kube',
  'kube-scheduler': 'kube',
  etcd: 'etcd',
  kwok: 'kwok',
  helm: 'helm',
  mediamtx: 'mediamtx',
  authload: 'authload',
  kubelet: 'node',
  'kube-proxy': 'node',
  containerd: 'containerd',
  'containerd-shim-runc-v2': 'containerd',
  ctr: 'containerd',
  runc: 'runc',
  pause: 'pause',
  coredns: 'coredns',
  promtool: 'prometheus',
  prometheus: 'prometheus',
  'helm-docs': 'helm-docs',
  ct: 'chart-testing',
};

let cacheDirs: Record<string, string> | undefined;
function familyDirs(): Record<string, string> {
  cacheDirs ??= Object.fromEntries(
    execFileSync('bash', [join(REPO_ROOT, 'tools/build.sh'), '--paths'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split('=') as [string, string]),
  );
  return cacheDirs;
}

export function toolPath(tool: Tool): string {
  const envName = `TEST_ASSET_${tool.toUpperCase().replaceAll('-', '_')}`;
  const candidates = [
    process.env[envName],
    process.env.KUBEBUILDER_ASSETS && join(process.env.KUBEBUILDER_ASSETS, tool),
    join(familyDirs()[FAMILY[tool]] ?? '/nonexistent', tool),
  ].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new Error(
      `${tool} not found (looked in ${candidates.join(', ')}). Build it with: bash tools/build.sh ${FAMILY[tool]}`,
    );
  }
  return found;
}

/** The directory holding the CNI plugins (bridge, host-local, loopback, portmap). */
export function cniBinDir(): string {
  const dir = process.env.VSTREAM_CNI_BIN_DIR ?? familyDirs().cni!;
  if (!existsSync(join(dir, 'bridge')))
    throw new Error(`CNI plugins not found in ${dir}. Build them with: bash tools/build.sh cni`);
  return dir;
}

/** Module directory of a Go module pinned by tools/<family>/go.mod (from the module cache; downloads if missing). */
export function goModuleDir(family: string, module: string): string {
  const out = execFileSync('go', ['mod', 'download', '-json', module], {
    cwd: join(REPO_ROOT, 'tools', family),
    encoding: 'utf8',
    env: { ...process.env, GOFLAGS: '-mod=readonly', GOTOOLCHAIN: 'local' },
  });
  return (JSON.parse(out) as { Dir: string }).Dir;
}

export function kwokStages(): string {
  return join(familyDirs().kwok!, 'stages.yaml');
}
