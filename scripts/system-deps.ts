// Debian packages the tests need, installed when we can (root + apt-get); otherwise say exactly what is missing, so
// the suites that need them fail loudly instead of skipping.
//   ffmpeg: the end-to-end tests publish and probe with a real ffmpeg.
//   iptables, conntrack: kube-proxy (iptables mode) and kubelet on the real-node tier.
//   libseccomp-dev, pkg-config, gcc: tools/build.sh compiles runc with cgo and seccomp.
import { spawnSync } from 'node:child_process';

const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const hasPkgConfig = (lib: string) => spawnSync('pkg-config', ['--exists', lib], { stdio: 'ignore' }).status === 0;

/** Debian package -> how to tell it is there without dpkg (the tools may come from elsewhere). */
const PACKAGES: Record<string, () => boolean> = {
  ffmpeg: () => has('ffmpeg') && has('ffprobe'),
  iptables: () => has('iptables') && has('iptables-restore') && has('ip6tables'),
  conntrack: () => has('conntrack'),
  'pkg-config': () => has('pkg-config'),
  gcc: () => has('gcc'),
  'libseccomp-dev': () => has('pkg-config') && hasPkgConfig('libseccomp'),
};

export function ensureSystemPackages(): void {
  const missing = Object.entries(PACKAGES)
    .filter(([, present]) => !present())
    .map(([pkg]) => pkg);
  if (!missing.length) return;
  const root = process.getuid?.() === 0;
  if (!root || !has('apt-get')) {
    console.warn(
      `== missing system packages: ${missing.join(' ')} (install them; the e2e and real-node tests need them)`,
    );
    return;
  }
  console.log(`== installing system packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env,
  });
  if (r.status !== 0) console.warn(`== apt-get install ${missing.join(' ')} failed (exit ${r.status})`);
}

if (import.meta.url === `file://${process.argv[1]}`) ensureSystemPackages();
