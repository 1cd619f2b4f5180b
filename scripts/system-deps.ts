// System packages the tests and `npm run dev` need, installed when we can (root + apt-get, python3 -m pip);
// otherwise say exactly what is missing, so the suites that need them fail loudly instead of skipping.
//   ffmpeg: the end-to-end tests publish and probe with a real ffmpeg.
//   iptables, conntrack: kube-proxy (iptables mode) and kubelet on the real-node tier.
//   libseccomp-dev, pkg-config, gcc: tools/build.sh compiles runc with cgo and seccomp.
//   yamllint (Debian) and yamale (PyPI): chart-testing's `ct lint`.
import { spawnSync } from 'node:child_process';

const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const hasPkgConfig = (lib: string) => spawnSync('pkg-config', ['--exists', lib], { stdio: 'ignore' }).status === 0;

/** Debian package -> how to tell it is there without dpkg (the tools may come from elsewhere). */
const APT: Record<string, () => boolean> = {
  ffmpeg: () => has('ffmpeg') && has('ffprobe'),
  iptables: () => has('iptables') && has('iptables-restore') && has('ip6tables'),
  conntrack: () => has('conntrack'),
  'pkg-config': () => has('pkg-config'),
  gcc: () => has('gcc'),
  'libseccomp-dev': () => has('pkg-config') && hasPkgConfig('libseccomp'),
  yamllint: () => has('yamllint'),
};
/** Pinned PyPI requirement -> how to tell it is there. */
const PIP: Record<string, () => boolean> = { 'yamale==6.1.0': () => has('yamale') };

/** Installs what is missing of `packages` (Debian or PyPI names; default: everything the test suite needs). */
export function ensureSystemPackages(packages: string[] = [...Object.keys(APT), ...Object.keys(PIP)]): void {
  const missing = (table: Record<string, () => boolean>) =>
    Object.entries(table)
      .filter(([pkg, present]) => packages.includes(pkg) && !present())
      .map(([pkg]) => pkg);
  const apt = missing(APT);
  const pip = missing(PIP);
  const root = process.getuid?.() === 0;
  if (apt.length) {
    if (!root || !has('apt-get'))
      console.warn(`== missing system packages: ${apt.join(' ')} (install them; the tests need them)`);
    else {
      console.log(`== installing system packages: ${apt.join(' ')}`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
      const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...apt], {
        stdio: 'inherit',
        env,
      });
      if (r.status !== 0) console.warn(`== apt-get install ${apt.join(' ')} failed (exit ${r.status})`);
    }
  }
  if (pip.length) {
    if (!has('python3')) console.warn(`== missing Python packages: ${pip.join(' ')} (needs python3 with pip)`);
    else {
      console.log(`== installing Python packages: ${pip.join(' ')}`);
      const r = spawnSync('python3', ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', ...pip], {
        stdio: 'inherit',
      });
      if (r.status !== 0) console.warn(`== pip install ${pip.join(' ')} failed (exit ${r.status})`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) ensureSystemPackages();
