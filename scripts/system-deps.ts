// System tools the tests and `npm run dev` need. Debian ships ffmpeg and yamllint; yamale (chart-testing's
// Chart.yaml validator) comes from PyPI. Install them when we can (root + apt-get, python3 -m pip), otherwise say
// exactly what is missing: the tests that need them then fail loudly instead of skipping.
import { spawnSync } from 'node:child_process';

/** Binary -> Debian package. */
const APT: Record<string, string> = { ffmpeg: 'ffmpeg', ffprobe: 'ffmpeg', yamllint: 'yamllint' };
/** Binary -> pinned PyPI requirement. */
const PIP: Record<string, string> = { yamale: 'yamale==6.1.0' };

const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

/** Installs what is missing of `bins` (default: everything the test suite needs). */
export function ensureSystemPackages(bins: string[] = [...Object.keys(APT), ...Object.keys(PIP)]): void {
  const missing = (table: Record<string, string>) => [
    ...new Set(
      bins
        .filter((b) => table[b] && !has(b))
        .map((b) => table[b]!)
        .filter(Boolean),
    ),
  ];
  const apt = missing(APT);
  const pip = missing(PIP);
  if (!apt.length && !pip.length) return;
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
