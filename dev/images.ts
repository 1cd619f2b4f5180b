// Container images built without a daemon or a registry, for the real-node tier: each is an OCI image layout in a
// tar (gzip layers, config, manifest, index.json naming the image), which `ctr -n k8s.io images import` takes.
//   pause     our tools/pause binary from scratch, pinned as containerd's sandbox image
//   mediamtx  the MediaMTX binary from scratch with its default config and licence, entrypoint /mediamtx, tagged as
//             the LiveStream default names it (docker.io/bluenviron/mediamtx:1.20.1): the official image's layout
//   vstream   scripts/image-rootfs.ts's layers (distroless-style Debian base, Node 24, compiled app), tagged as the
//             chart's default (ghcr.io/vstream/vstream:<version>), so the chart and LiveStreams run unchanged
// Built images are kept in $VSTREAM_CACHE/images/<name>-<key>.tar; the key hashes every input, so a change to src/
// (or the lockfile, the recipe, the Debian candidates) rebuilds the vstream image and nothing else.
//
//   node dev/images.ts            builds what is missing and prints name, tar and sizes
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  assembleApp,
  assembleBase,
  assembleNode,
  DEBIAN_PACKAGES,
  debianPackages,
  IMAGE_CONFIG,
  LAYERS,
} from '../scripts/image-rootfs.ts';
import { DEFAULT_IMAGE } from '../src/version.ts';
import { PAUSE_IMAGE } from './node.ts';
import { goModuleDir, REPO_ROOT, toolPath } from './tools.ts';

export const MEDIAMTX_IMAGE = 'docker.io/bluenviron/mediamtx:1.20.1';
export const VSTREAM_IMAGE = DEFAULT_IMAGE;

export interface BuiltImage {
  name: string;
  tar: string;
  /** Sum of the compressed layers (what a registry would store and a node would pull). */
  compressedBytes: number;
  /** Sum of the uncompressed layers (what it takes on the node's disk). */
  uncompressedBytes: number;
}

/** $VSTREAM_IMAGE_CACHE, else $VSTREAM_CACHE/images (default ~/.cache/vstream/images). */
const cacheDir = () =>
  process.env.VSTREAM_IMAGE_CACHE ??
  join(process.env.VSTREAM_CACHE ?? join(process.env.HOME ?? '/root', '.cache/vstream'), 'images');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const arch = () => ({ x64: 'amd64', arm64: 'arm64' })[process.arch as 'x64' | 'arm64'] ?? process.arch;
// Fixed timestamps: the same inputs give the same layer digests (containerd then reuses what it has).
const EPOCH = 0;

/** A reproducible tar of a directory (sorted, numeric owners as staged, fixed mtimes, no ./ prefix). */
function tarDir(dir: string, file = '-'): Buffer {
  const entries = readdirSync(dir).sort();
  return execFileSync(
    'tar',
    [
      '--create',
      `--file=${file}`,
      `--directory=${dir}`,
      '--sort=name',
      '--numeric-owner',
      `--mtime=@${EPOCH}`,
      '--format=posix',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      ...entries,
    ],
    { maxBuffer: 2 ** 31 - 1 },
  );
}

interface ImageSpec {
  name: string;
  /** Staged filesystem roots, one per layer, bottom first. */
  layers: string[];
  config: {
    User?: string;
    Env?: string[];
    Entrypoint: string[];
    Cmd?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
  };
}

/** Writes an OCI image layout tar for spec to out; returns the layer sizes. */
function writeImage(spec: ImageSpec, out: string): Omit<BuiltImage, 'name' | 'tar'> {
  const staging = mkdtempSync(join(tmpdir(), 'vstream-image-'));
  try {
    const blobs = join(staging, 'blobs/sha256');
    mkdirSync(blobs, { recursive: true });
    const blob = (data: Buffer | string) => {
      const digest = sha256(data);
      writeFileSync(join(blobs, digest), data);
      return { digest: `sha256:${digest}`, size: Buffer.byteLength(data) };
    };
    let compressedBytes = 0;
    let uncompressedBytes = 0;
    const layers = spec.layers.map((dir) => {
      const tar = tarDir(dir);
      const gz = gzipSync(tar, { level: 6 });
      compressedBytes += gz.length;
      uncompressedBytes += tar.length;
      return { diffId: `sha256:${sha256(tar)}`, ...blob(gz) };
    });
    const config = blob(
      JSON.stringify({
        created: new Date(EPOCH * 1000).toISOString(),
        architecture: arch(),
        os: 'linux',
        config: spec.config,
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
        history: layers.map(() => ({ created: new Date(EPOCH * 1000).toISOString(), created_by: 'dev/images.ts' })),
      }),
    );
    const manifest = blob(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: layers.map((l) => ({
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: l.digest,
          size: l.size,
        })),
      }),
    );
    writeFileSync(join(staging, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(staging, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...manifest,
            platform: { architecture: arch(), os: 'linux' },
            annotations: {
              'io.containerd.image.name': spec.name,
              'org.opencontainers.image.ref.name': spec.name.replace(/^.*:/, ''),
            },
          },
        ],
      }),
    );
    mkdirSync(cacheDir(), { recursive: true });
    tarDir(staging, `${out}.partial`);
    renameSync(`${out}.partial`, out);
    const sizes = { compressedBytes, uncompressedBytes };
    writeFileSync(`${out}.json`, JSON.stringify({ name: spec.name, ...sizes }));
    return sizes;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function cached(name: string, key: string, build: (out: string) => void): BuiltImage {
  const short = name.replace(/^.*\//, '').replace(/[:@]/g, '-');
  const tar = join(cacheDir(), `${short}-${key.slice(0, 12)}.tar`);
  if (!existsSync(tar) || !existsSync(`${tar}.json`)) {
    const started = Date.now();
    build(tar);
    console.error(`[images] built ${name} in ${((Date.now() - started) / 1000).toFixed(1)}s: ${tar}`);
  }
  const sizes = JSON.parse(readFileSync(`${tar}.json`, 'utf8')) as Omit<BuiltImage, 'name' | 'tar'>;
  return { name, tar, ...sizes };
}

const fileKey = (...files: string[]) => sha256(files.map((f) => `${f}\0${sha256(readFileSync(f))}`).join('\n'));

/** Stages single files into a fresh layer directory: [path in image, source, mode]. */
function stage(files: [string, string, number][]): string {
  const dir = mkdtempSync(join(tmpdir(), 'vstream-layer-'));
  for (const [path, src, mode] of files) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), readFileSync(src), { mode });
  }
  return dir;
}

export function pauseImage(): BuiltImage {
  const bin = toolPath('pause');
  return cached(PAUSE_IMAGE, fileKey(bin, new URL(import.meta.url).pathname), (out) => {
    const layer = stage([['pause', bin, 0o755]]);
    try {
      writeImage({ name: PAUSE_IMAGE, layers: [layer], config: { User: '65535:65535', Entrypoint: ['/pause'] } }, out);
    } finally {
      rmSync(layer, { recursive: true, force: true });
    }
  });
}

export function mediamtxImage(): BuiltImage {
  const bin = toolPath('mediamtx');
  const mod = goModuleDir('mediamtx', 'github.com/bluenviron/mediamtx');
  return cached(MEDIAMTX_IMAGE, fileKey(bin, join(mod, 'mediamtx.yml'), new URL(import.meta.url).pathname), (out) => {
    // Upstream's image: FROM scratch, the release tarball (binary, mediamtx.yml, LICENSE) at /, ENTRYPOINT /mediamtx.
    const layer = stage([
      ['mediamtx', bin, 0o755],
      ['mediamtx.yml', join(mod, 'mediamtx.yml'), 0o644],
      ['LICENSE', join(mod, 'LICENSE'), 0o644],
    ]);
    try {
      writeImage({ name: MEDIAMTX_IMAGE, layers: [layer], config: { Entrypoint: ['/mediamtx'] } }, out);
    } finally {
      rmSync(layer, { recursive: true, force: true });
    }
  });
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

export function vstreamImage(): BuiltImage {
  const debsDir = join(cacheDir(), 'debs');
  const debs = debianPackages(debsDir);
  const inputs = [
    ...walk(join(REPO_ROOT, 'src')).sort(),
    ...['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/image-rootfs.ts'].map(
      (f) => join(REPO_ROOT, f),
    ),
    new URL(import.meta.url).pathname,
  ];
  const key = sha256(`${fileKey(...inputs)}\n${debs.map((d) => relative(debsDir, d)).join('\n')}\n${process.version}`);
  return cached(VSTREAM_IMAGE, key, (out) => {
    execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], {
      cwd: REPO_ROOT,
      stdio: 'inherit',
    });
    const root = mkdtempSync(join(tmpdir(), 'vstream-rootfs-'));
    try {
      const dirs = Object.fromEntries(LAYERS.map((l) => [l, join(root, l)])) as Record<(typeof LAYERS)[number], string>;
      assembleBase(dirs.base, debs);
      assembleNode(REPO_ROOT, dirs.node);
      assembleApp(REPO_ROOT, dirs.app);
      writeImage(
        {
          name: VSTREAM_IMAGE,
          layers: LAYERS.map((l) => dirs[l]),
          config: {
            User: IMAGE_CONFIG.user,
            Env: IMAGE_CONFIG.env,
            Entrypoint: IMAGE_CONFIG.entrypoint,
            Cmd: IMAGE_CONFIG.cmd,
            WorkingDir: IMAGE_CONFIG.workdir,
            Labels: {
              'org.opencontainers.image.source': 'https://github.com/vstream/vstream',
              'org.opencontainers.image.version': VSTREAM_IMAGE.replace(/^.*:/, ''),
              'vstream.io/debian-packages': DEBIAN_PACKAGES.join(','),
            },
          },
        },
        out,
      );
      // The file list, for tests and for anyone who wants to see what is inside.
      writeFileSync(
        `${out}.files`,
        `${LAYERS.flatMap((l) => walk(dirs[l]).map((f) => `/${relative(dirs[l], f)}`))
          .sort()
          .join('\n')}\n`,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

/** Every image the node tier needs, built if missing (the pause image first: containerd pins it). */
export async function nodeImages(): Promise<BuiltImage[]> {
  return [pauseImage(), mediamtxImage(), vstreamImage()];
}

export async function importImages(images: BuiltImage[], importTar: (tar: string) => Promise<unknown>) {
  for (const img of images) await importTar(img.tar);
}

export const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  for (const img of await nodeImages())
    console.log(
      `${img.name}\t${img.tar}\t${mib(img.compressedBytes)} MiB compressed, ${mib(img.uncompressedBytes)} MiB uncompressed (${statSync(img.tar).size} bytes on disk)`,
    );
}
