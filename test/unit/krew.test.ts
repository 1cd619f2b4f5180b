// The krew manifest of `kubectl vstream`: krew's required fields, the version of this release, and a bin name
// that makes kubectl find the plugin.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../dev/tools.ts';
import { VERSION } from '../../src/version.ts';

const manifest = parse(readFileSync(join(REPO_ROOT, 'plugins/krew/vstream.yaml'), 'utf8'));

describe('plugins/krew/vstream.yaml', () => {
  it('is a krew Plugin named vstream, versioned like the release', () => {
    expect(manifest.apiVersion).toBe('krew.googlecontainertools.github.com/v1alpha2');
    expect(manifest.kind).toBe('Plugin');
    expect(manifest.metadata.name).toBe('vstream');
    expect(manifest.spec.version).toBe(`v${VERSION}`);
    expect(manifest.spec.shortDescription.length).toBeLessThanOrEqual(50);
    for (const k of ['homepage', 'description', 'caveats']) expect(manifest.spec[k], k).toBeTruthy();
  });

  it('installs kubectl-vstream on every platform, from an archive of this version with a sha256', () => {
    expect(manifest.spec.platforms.length).toBeGreaterThan(0);
    for (const p of manifest.spec.platforms) {
      expect(p.bin).toBe('kubectl-vstream');
      expect(p.uri).toContain(`/v${VERSION}/kubectl-vstream-v${VERSION}.tar.gz`);
      expect(p.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(p.selector.matchExpressions ?? p.selector.matchLabels).toBeTruthy();
    }
  });

  it('describes every command the plugin has', async () => {
    const { HELP } = await import('../../src/plugin/main.ts');
    for (const cmd of ['obs', 'status', 'token viewer', 'recordings list']) {
      expect(manifest.spec.description, cmd).toContain(`kubectl vstream ${cmd}`);
      expect(HELP, cmd).toContain(cmd);
    }
  });
});
