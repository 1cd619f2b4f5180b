// The vstream image is built two ways: here without a container engine (dev/images.ts, for the real-node tier) and
// by Docker users from the Dockerfile (and the release workflow). Both run scripts/image-rootfs.ts; this checks that
// the Dockerfile gives it the same inputs and ships its layers with the same runtime config, and that the app layer
// holds the compiled code and the production dependencies, and nothing else of the repository.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../dev/tools.ts';
import { assembleApp, IMAGE_CONFIG, LAYERS, productionPackages } from '../../scripts/image-rootfs.ts';
import { IMAGE_REPOSITORY } from '../../src/version.ts';

interface Instruction {
  op: string;
  args: string;
}
/** Dockerfile stages: instructions with continuation lines joined, comments dropped. */
function stages(text: string): Instruction[][] {
  const out: Instruction[][] = [];
  for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
    const m = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
    if (!m || line.trim().startsWith('#')) continue;
    if (m[1] === 'FROM') out.push([]);
    out.at(-1)?.push({ op: m[1]!, args: m[2]!.trim() });
  }
  return out;
}

const dockerfile = stages(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const final = dockerfile.at(-1)!;
const build = dockerfile[0]!;
const one = (stage: Instruction[], op: string) => stage.filter((i) => i.op === op).map((i) => i.args);

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

describe('the image: Dockerfile and dev/images.ts agree', () => {
  it('ships the recipe’s layers, in order, on scratch', () => {
    expect(final[0]).toEqual({ op: 'FROM', args: 'scratch' });
    const copies = one(final, 'COPY');
    expect(copies.slice(0, LAYERS.length)).toEqual(LAYERS.map((l) => `--from=build /rootfs/${l}/ /`));
    // The only other COPY gives the non-root user its home (COPY makes files root's; the recipe chowns it).
    expect(copies.slice(LAYERS.length)).toEqual([
      `--from=build --chown=${IMAGE_CONFIG.user} /rootfs/base/home/nonroot/ /home/nonroot/`,
    ]);
    expect(one(final, 'RUN')).toEqual([]); // scratch has no shell to run anything with
  });

  it('has the same user, workdir, entrypoint, command and environment', () => {
    expect(one(final, 'USER')).toEqual([IMAGE_CONFIG.user]);
    expect(one(final, 'WORKDIR')).toEqual([IMAGE_CONFIG.workdir]);
    expect(one(final, 'ENTRYPOINT').map((a) => JSON.parse(a))).toEqual([IMAGE_CONFIG.entrypoint]);
    expect(one(final, 'CMD').map((a) => JSON.parse(a))).toEqual([IMAGE_CONFIG.cmd]);
    expect(one(final, 'ENV').flatMap((a) => a.split(/\s+/))).toEqual(IMAGE_CONFIG.env);
  });

  it('runs the same recipe in its build stage, on the inputs the recipe reads', () => {
    expect(build[0]?.args).toMatch(/^node:24\S* AS build$/);
    const runs = one(build, 'RUN').join(' && ');
    expect(runs).toContain('npm ci');
    expect(runs).toMatch(/npm run build && node scripts\/image-rootfs\.ts \/rootfs/);
    const copied = one(build, 'COPY').flatMap((a) => a.split(/\s+/).slice(0, -1));
    expect(copied.sort()).toEqual(
      [
        'package.json',
        'package-lock.json',
        'tsconfig.json',
        'tsconfig.build.json',
        'src',
        'scripts/image-rootfs.ts',
      ].sort(),
    );
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const input of ['src', 'scripts', 'package.json', 'package-lock.json']) expect(ignored).not.toContain(input);
  });

  it('is released under the name the chart and the operator use, from the Dockerfile, for amd64 and arm64', () => {
    const release = readFileSync(join(REPO_ROOT, '.github/workflows/release.yaml'), 'utf8');
    expect(release).toContain(`IMAGE: ${IMAGE_REPOSITORY} `);
    expect(release).toContain('platforms: linux/amd64,linux/arm64');
    expect(release).toContain('sbom: true');
    const values = readFileSync(join(REPO_ROOT, 'charts/vstream/values.yaml'), 'utf8');
    expect(values).toContain(`repository: ${IMAGE_REPOSITORY}\n`);
  });

  it('puts the compiled code and the production dependencies in /app, and nothing else of the repository', () => {
    mkdirSync(join(REPO_ROOT, '.vstream'), { recursive: true });
    const tmp = mkdtempSync(join(REPO_ROOT, '.vstream', 'image-'));
    try {
      const dist = join(tmp, 'dist');
      execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json', '--outDir', dist], {
        cwd: REPO_ROOT,
      });
      const layer = join(tmp, 'layer');
      assembleApp(REPO_ROOT, layer, dist);
      const files = walk(layer).map((f) => `/${relative(layer, f)}`);
      expect(files).toContain('/app/src/cli.js');
      expect(files).toContain('/app/package.json');
      expect(files.filter((f) => f.startsWith('/app/src/') && !f.endsWith('.js'))).toEqual([]);
      expect(files.filter((f) => !/^\/app\/(src|node_modules)\/|^\/app\/package\.json$/.test(f))).toEqual([]);
      const packages = new Set(
        files
          .filter((f) => f.endsWith('/package.json') && f.startsWith('/app/node_modules/'))
          .map((f) => f.slice('/app/'.length, -'/package.json'.length)),
      );
      for (const p of productionPackages(REPO_ROOT)) expect(packages.has(p), p).toBe(true);
      for (const dev of ['vitest', 'typescript', '@biomejs/biome', 'node', 'hls.js', 'fast-check'])
        expect(packages.has(`node_modules/${dev}`), dev).toBe(false);
      for (const dir of ['dev', 'test', 'bench', 'tools', 'scripts', 'charts'])
        expect(files.filter((f) => f.startsWith(`/app/${dir}/`)).length, dir).toBe(0);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 120_000);
});
