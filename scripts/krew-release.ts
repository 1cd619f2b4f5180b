// The krew release of `kubectl vstream`: the archive plugins/krew/vstream.yaml installs, and that manifest with the
// archive's real uri and sha256 (the committed manifest is a template: it carries no hash until a release has built
// the archive it describes).
//
//   node scripts/krew-release.ts archive OUT.tar.gz            after `npm ci` and `npm run build`
//   node scripts/krew-release.ts manifest ARCHIVE [OUT.yaml]   the filled manifest (stdout without OUT)
//
// The archive: kubectl-vstream/ = the launcher `kubectl-vstream`, the compiled code (dist/src, package.json) and the
// production dependencies of package-lock.json, the same app the image carries (scripts/image-rootfs.ts assembleApp).
// krew copies kubectl-vstream/* into the plugin's directory and links the launcher into ~/.krew/bin.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { assembleApp } from './image-rootfs.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const MANIFEST = join(ROOT, 'plugins/krew/vstream.yaml');
export const RELEASES = 'https://github.com/vstream/vstream/releases/download';
/** The directory in the archive the manifest's `files` take the plugin from. */
export const ARCHIVE_DIR = 'kubectl-vstream';
export const BIN = 'kubectl-vstream';

export const archiveName = (version: string) => `kubectl-vstream-v${version}.tar.gz`;
export const archiveUri = (version: string) => `${RELEASES}/v${version}/${archiveName(version)}`;

/**
 * krew links the launcher into ~/.krew/bin, so it follows links to find the plugin's directory, then runs the
 * compiled plugin with the user's Node.js (24 or later: the manifest's caveats say so).
 */
export const LAUNCHER = `#!/bin/sh
self=$0
while [ -L "$self" ]; do
  link=$(readlink "$self")
  case $link in
    /*) self=$link ;;
    *) self=$(dirname "$self")/$link ;;
  esac
done
exec node "$(dirname "$self")/src/plugin/main.js" "$@"
`;

/** Builds the archive from dist/ (npm run build) and node_modules; returns its sha256. */
export function buildArchive(out: string, root = ROOT, dist = join(root, 'dist')): string {
  const work = mkdtempSync(join(tmpdir(), 'vstream-krew-'));
  try {
    assembleApp(root, work, dist);
    renameSync(join(work, 'app'), join(work, ARCHIVE_DIR));
    writeFileSync(join(work, ARCHIVE_DIR, BIN), LAUNCHER);
    chmodSync(join(work, ARCHIVE_DIR, BIN), 0o755);
    // Reproducible: sorted entries, fixed owner and mtime.
    execFileSync('tar', [
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '-czf',
      resolve(out),
      '-C',
      work,
      ARCHIVE_DIR,
    ]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return sha256(out);
}

export const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The committed manifest with this release's uri and the archive's sha256 on every platform; comments kept. */
export function fillManifest(template: string, version: string, archiveSha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(archiveSha256)) throw new Error(`not a sha256: ${archiveSha256}`);
  const doc = parseDocument(template);
  if (doc.getIn(['spec', 'version']) !== `v${version}`)
    throw new Error(
      `plugins/krew/vstream.yaml spec.version is ${doc.getIn(['spec', 'version'])}, the release is v${version}`,
    );
  const platforms = doc.getIn(['spec', 'platforms']) as { items: unknown[] };
  for (let i = 0; i < platforms.items.length; i++) {
    doc.setIn(['spec', 'platforms', i, 'uri'], archiveUri(version));
    doc.setIn(['spec', 'platforms', i, 'sha256'], archiveSha256);
  }
  return doc.toString();
}

if (import.meta.main) {
  const [cmd, a, b] = process.argv.slice(2);
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  if (cmd === 'archive' && a) {
    console.error(`${a}: sha256 ${buildArchive(a)}`);
  } else if (cmd === 'manifest' && a) {
    const filled = fillManifest(readFileSync(MANIFEST, 'utf8'), version, sha256(a));
    if (b) writeFileSync(b, filled);
    else process.stdout.write(filled);
  } else {
    console.error('usage: node scripts/krew-release.ts archive OUT.tar.gz | manifest ARCHIVE [OUT.yaml]');
    process.exit(2);
  }
}
