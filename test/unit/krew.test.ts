// The krew manifest of `kubectl vstream`: krew's required fields, the version of this release, a bin name that makes
// kubectl find the plugin, and agreement with scripts/krew-release.ts: the archive it builds holds what the
// manifest's `files` and `bin` name, and the manifest it fills carries that archive's sha256 (the committed template
// carries none).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../dev/tools.ts';
import { ARCHIVE_DIR, archiveUri, buildArchive, fillManifest, MANIFEST, sha256 } from '../../scripts/krew-release.ts';
import { VERSION } from '../../src/version.ts';

const manifest = parse(readFileSync(MANIFEST, 'utf8'));

describe('plugins/krew/vstream.yaml', () => {
  it('is a krew Plugin named vstream, versioned like the release', () => {
    expect(manifest.apiVersion).toBe('krew.googlecontainertools.github.com/v1alpha2');
    expect(manifest.kind).toBe('Plugin');
    expect(manifest.metadata.name).toBe('vstream');
    expect(manifest.spec.version).toBe(`v${VERSION}`);
    expect(manifest.spec.shortDescription.length).toBeLessThanOrEqual(50);
    for (const k of ['homepage', 'description', 'caveats']) expect(manifest.spec[k], k).toBeTruthy();
  });

  it('installs kubectl-vstream on every platform, from this version’s archive, with no hash committed', () => {
    expect(manifest.spec.platforms.length).toBeGreaterThan(0);
    for (const p of manifest.spec.platforms) {
      expect(p.bin).toBe('kubectl-vstream');
      expect(p.uri).toBe(archiveUri(VERSION));
      // A hash is only written by the release, from the archive it built.
      expect(p.sha256).toBe('');
      expect(p.selector.matchExpressions ?? p.selector.matchLabels).toBeTruthy();
    }
  });

  it('agrees with scripts/krew-release.ts: the archive holds files and bin, the filled manifest its sha256', () => {
    const work = mkdtempSync(join(tmpdir(), 'vstream-krew-test-'));
    // Stand-ins for `npm run build`'s dist/ and for the lockfile's production packages (the real ones are the
    // release's; copying node_modules here would take seconds): the layout is what is tested.
    const root = join(work, 'repo');
    const dist = join(root, 'dist');
    mkdirSync(join(dist, 'src/plugin'), { recursive: true });
    writeFileSync(join(dist, 'src/cli.js'), '');
    writeFileSync(
      join(dist, 'src/plugin/main.js'),
      "console.log('kubectl vstream ran', process.argv.slice(2).join(' '));\n",
    );
    cpSync(join(REPO_ROOT, 'package.json'), join(dist, 'package.json'));
    mkdirSync(join(root, 'node_modules/dep'), { recursive: true });
    writeFileSync(join(root, 'node_modules/dep/index.js'), '');
    writeFileSync(
      join(root, 'package-lock.json'),
      JSON.stringify({ packages: { '': {}, 'node_modules/dep': {}, 'node_modules/devonly': { dev: true } } }),
    );
    const archive = join(work, 'kubectl-vstream.tar.gz');
    const sha = buildArchive(archive, root, dist);
    expect(sha).toBe(sha256(archive));
    const entries = execFileSync('tar', ['-tzf', archive], { encoding: 'utf8' }).split('\n').filter(Boolean);

    // What krew installs: each `files` entry's matches, moved under `to`; then `bin` must be among them.
    const installed = new Set<string>();
    for (const p of manifest.spec.platforms)
      for (const f of p.files as { from: string; to: string }[]) {
        const re = new RegExp(`^${f.from.replaceAll('.', '\\.').replaceAll('*', '[^/]+')}/?$`);
        const matched = entries.filter((e) => re.test(e));
        expect(matched.length, f.from).toBeGreaterThan(0);
        for (const m of matched) installed.add(join(f.to, m.replace(/\/$/, '').split('/').pop()!));
      }
    expect([...installed].sort()).toEqual(['kubectl-vstream', 'node_modules', 'package.json', 'src']);
    expect(entries).toContain(`${ARCHIVE_DIR}/src/plugin/main.js`);
    expect(entries).toContain(`${ARCHIVE_DIR}/node_modules/dep/index.js`);

    // The launcher, reached through a link as krew's ~/.krew/bin does, runs the plugin.
    const out = join(work, 'installed');
    mkdirSync(out);
    execFileSync('tar', ['-xzf', archive, '-C', out]);
    const bin = join(work, 'bin');
    mkdirSync(bin);
    execFileSync('ln', ['-s', join(out, ARCHIVE_DIR, 'kubectl-vstream'), join(bin, 'kubectl-vstream')]);
    const ran = execFileSync(join(bin, 'kubectl-vstream'), ['status', 'x'], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${join(REPO_ROOT, 'node_modules/.bin')}:${process.env.PATH}` },
    });
    expect(ran).toBe('kubectl vstream ran status x\n');

    const filled = parse(fillManifest(readFileSync(MANIFEST, 'utf8'), VERSION, sha));
    expect(filled.spec.platforms.map((p: { sha256: string; uri: string }) => [p.uri, p.sha256])).toEqual(
      manifest.spec.platforms.map(() => [archiveUri(VERSION), sha]),
    );
    // Nothing else changes.
    const strip = (m: { spec: { platforms: object[] } }) => ({
      ...m,
      spec: { ...m.spec, platforms: m.spec.platforms.map((p) => ({ ...p, sha256: '', uri: '' })) },
    });
    expect(strip(filled)).toEqual(strip(manifest));
    expect(() => fillManifest(readFileSync(MANIFEST, 'utf8'), '9.9.9', sha)).toThrow(/spec.version is v/);
    expect(() => fillManifest(readFileSync(MANIFEST, 'utf8'), VERSION, 'abc')).toThrow(/not a sha256/);
  });

  it('describes every command the plugin has', async () => {
    const { HELP } = await import('../../src/plugin/main.ts');
    for (const cmd of ['obs', 'status', 'token viewer', 'recordings list']) {
      expect(manifest.spec.description, cmd).toContain(`kubectl vstream ${cmd}`);
      expect(HELP, cmd).toContain(cmd);
    }
  });
});
