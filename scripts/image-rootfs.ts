// The vstream image's file system, assembled without a container engine: the one recipe both builds use.
//   - here (dev/images.ts): assembled on the host, packed into OCI layers, imported into the real node's containerd;
//   - Docker (Dockerfile): run in the build stage, then copied layer by layer onto `scratch`.
//
//   node scripts/image-rootfs.ts OUT_DIR [--debs CACHE_DIR]
//
// Writes OUT_DIR/<layer>/ for each of LAYERS:
//   base  a distroless-style base from Debian 12 packages (apt-get download + dpkg-deb -x, no maintainer scripts):
//         glibc, libgcc/libstdc++ (Node links them), CA certificates (the bundle update-ca-certificates would make),
//         tzdata, netbase, base-files; users root/nonroot(65532)/nobody; /tmp; no shell, no package manager.
//   node  Node 24 from the `node` npm package (the binary the project already runs), /usr/local/bin/node.
//   app   /app: the JavaScript `npm run build` compiled into dist/, package.json, and the production dependencies of
//         package-lock.json (what `npm ci --omit=dev` installs), copied from node_modules. Nothing else of the repo.
// Run from the repository root after `npm ci` and `npm run build`. Needs apt-get and dpkg-deb (Debian).
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, join, resolve } from 'node:path';

export const LAYERS = ['base', 'node', 'app'] as const;
export type Layer = (typeof LAYERS)[number];

/** The image's runtime config; the Dockerfile's final stage must say the same (test/unit/image.test.ts). */
export const IMAGE_CONFIG = {
  user: '65532:65532',
  workdir: '/app',
  entrypoint: ['/usr/local/bin/node', '/app/src/cli.js'],
  cmd: ['--help'],
  env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'],
};

/** Debian packages of the base layer (dependencies are named, not resolved: this is the whole list). */
export const DEBIAN_PACKAGES = [
  'base-files',
  'netbase',
  'tzdata',
  'ca-certificates',
  'libc6',
  'libgcc-s1',
  'libstdc++6',
];

/** Paths left out of the Debian packages: documentation, manuals, and the few scripts that need a shell. */
const PRUNE = [
  'usr/share/doc',
  'usr/share/man',
  'usr/share/info',
  'usr/share/lintian',
  'usr/share/bug',
  'usr/share/gdb',
  'usr/sbin/update-ca-certificates',
  'usr/bin/ldd',
  'usr/bin/tzselect',
  'usr/sbin/tzconfig',
  'etc/ca-certificates',
  'etc/update-motd.d',
  'etc/profile',
  'etc/profile.d',
  'etc/skel',
  'usr/share/base-files/dot.bashrc',
  'usr/share/base-files/dot.profile',
  'usr/share/base-files/dot.profile.md5sums',
  'usr/share/base-files/profile',
  'usr/share/base-files/profile.md5sums',
];

const NONROOT = 65532;

interface LockEntry {
  dev?: boolean;
  devOptional?: boolean;
  link?: boolean;
}

/** node_modules paths (relative to the root) of the production dependencies, from package-lock.json. */
export function productionPackages(root: string): string[] {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  return Object.entries(lock.packages)
    .filter(([path, e]) => path.startsWith('node_modules/') && !e.dev && !e.devOptional && !e.link)
    .map(([path]) => path)
    .sort();
}

/** The app layer: compiled code (dist/, from `npm run build`) and production node_modules, under app/. */
export function assembleApp(root: string, out: string, dist = join(root, 'dist')): void {
  if (!existsSync(join(dist, 'src/cli.js'))) throw new Error(`${dist}/src/cli.js is missing: run npm run build first`);
  const app = join(out, 'app');
  cpSync(join(dist, 'src'), join(app, 'src'), { recursive: true, filter: (s) => !s.endsWith('.ts') });
  cpSync(join(dist, 'package.json'), join(app, 'package.json'));
  for (const pkg of productionPackages(root)) {
    const from = join(root, pkg);
    if (!existsSync(from)) continue; // an optional dependency for another platform
    // Nested node_modules are entries of their own in the lockfile.
    cpSync(from, join(app, pkg), {
      recursive: true,
      filter: (s) =>
        s === from ||
        !s
          .slice(from.length + 1)
          .split('/')
          .includes('node_modules'),
    });
  }
}

/** The node layer: the binary of the `node` npm package. */
export function assembleNode(root: string, out: string): void {
  const bin = realpathSync(join(root, 'node_modules/node/bin/node'));
  mkdirSync(join(out, 'usr/local/bin'), { recursive: true });
  cpSync(bin, join(out, 'usr/local/bin/node'));
  chmodSync(join(out, 'usr/local/bin/node'), 0o755);
  const license = join(root, 'node_modules/node/node_modules', `node-linux-${process.arch}`, 'LICENSE');
  if (existsSync(license)) {
    mkdirSync(join(out, 'usr/local/share/doc/node'), { recursive: true });
    cpSync(license, join(out, 'usr/local/share/doc/node/LICENSE'));
  }
}

const sh = (cmd: string, args: string[], cwd?: string) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });

/** The .deb files of DEBIAN_PACKAGES at their candidate versions, downloaded into (and reused from) debsDir. */
export function debianPackages(debsDir: string): string[] {
  mkdirSync(debsDir, { recursive: true });
  const show = () => sh('apt-cache', ['show', '--no-all-versions', ...DEBIAN_PACKAGES]);
  let info: string;
  try {
    info = show();
  } catch {
    sh('apt-get', ['update', '-qq']);
    info = show();
  }
  const files = [...info.matchAll(/^Filename: (.+)$/gm)].map((m) => basename(m[1]!));
  if (files.length !== DEBIAN_PACKAGES.length) throw new Error(`apt-cache show found ${files.length} packages`);
  const missing = files.filter((f) => !existsSync(join(debsDir, f)));
  if (missing.length) sh('apt-get', ['download', ...DEBIAN_PACKAGES], debsDir);
  return files.map((f) => join(debsDir, f));
}

/** The base layer: Debian packages, pruned; CA bundle; users; /tmp and the non-root home. */
export function assembleBase(out: string, debs: string[]): void {
  mkdirSync(out, { recursive: true });
  for (const deb of debs) sh('dpkg-deb', ['-x', deb, out]);
  // Keep each package's copyright file (the licences), drop the rest of the docs.
  const copyrights = new Map<string, Buffer>();
  const docs = join(out, 'usr/share/doc');
  if (existsSync(docs))
    for (const pkg of readdirSync(docs)) {
      const c = join(docs, pkg, 'copyright');
      if (existsSync(c)) copyrights.set(pkg, readFileSync(c));
    }
  for (const p of PRUNE) rmSync(join(out, p), { recursive: true, force: true });
  for (const [pkg, text] of copyrights) {
    mkdirSync(join(docs, pkg), { recursive: true });
    writeFileSync(join(docs, pkg, 'copyright'), text);
  }
  // What update-ca-certificates would write (dpkg-deb -x runs no maintainer scripts).
  const mozilla = join(out, 'usr/share/ca-certificates/mozilla');
  const certs = readdirSync(mozilla)
    .filter((f) => f.endsWith('.crt'))
    .sort()
    .map((f) => readFileSync(join(mozilla, f), 'utf8').trim());
  mkdirSync(join(out, 'etc/ssl/certs'), { recursive: true });
  writeFileSync(join(out, 'etc/ssl/certs/ca-certificates.crt'), `${certs.join('\n')}\n`);
  writeFileSync(
    join(out, 'etc/passwd'),
    'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n',
  );
  writeFileSync(join(out, 'etc/group'), 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n');
  writeFileSync(join(out, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  mkdirSync(join(out, 'tmp'), { recursive: true });
  chmodSync(join(out, 'tmp'), 0o1777);
  mkdirSync(join(out, 'root'), { recursive: true });
  chmodSync(join(out, 'root'), 0o700);
  mkdirSync(join(out, 'home/nonroot'), { recursive: true });
  chmodSync(join(out, 'home/nonroot'), 0o700);
  chownSync(join(out, 'home/nonroot'), NONROOT, NONROOT);
}

export function assembleRootfs(root: string, out: string, debsDir: string): void {
  rmSync(out, { recursive: true, force: true });
  assembleBase(join(out, 'base'), debianPackages(debsDir));
  assembleNode(root, join(out, 'node'));
  assembleApp(root, join(out, 'app'));
}

if (process.argv[1] && import.meta.url === `file://${resolve(process.argv[1])}`) {
  const [out, flag, debs] = process.argv.slice(2);
  if (!out || (flag && flag !== '--debs')) {
    console.error('usage: node scripts/image-rootfs.ts OUT_DIR [--debs CACHE_DIR]');
    process.exit(2);
  }
  assembleRootfs(process.cwd(), resolve(out), resolve(debs ?? join(out, '.debs')));
}
