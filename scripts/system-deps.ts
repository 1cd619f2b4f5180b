// The end-to-end tests publish with a real ffmpeg. Debian ships it; install it when we can (root + apt-get),
// otherwise say exactly what is missing: the e2e suite then fails loudly instead of skipping.
import { spawnSync } from 'node:child_process';

const PACKAGES: Record<string, string> = { ffmpeg: 'ffmpeg', ffprobe: 'ffmpeg' };

const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

export function ensureSystemPackages(): void {
  const missing = [
    ...new Set(
      Object.entries(PACKAGES)
        .filter(([bin]) => !has(bin))
        .map(([, pkg]) => pkg),
    ),
  ];
  if (!missing.length) return;
  const root = process.getuid?.() === 0;
  if (!root || !has('apt-get')) {
    console.warn(`== missing system packages: ${missing.join(' ')} (install them; the e2e tests need them)`);
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
