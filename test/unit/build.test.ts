// The image's build stage compiles src/ to JavaScript (tsconfig.build.json); check that the output runs, so a
// broken build is caught here and not only where a container engine exists.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../dev/tools.ts';

describe('the compiled build (what the Dockerfile ships)', () => {
  it('compiles and runs `vstream --help` and `vstream crd` from JavaScript', () => {
    // Inside the repo, so the compiled code resolves node_modules as it does in the image (/app/node_modules).
    mkdirSync(join(REPO_ROOT, '.vstream'), { recursive: true });
    const out = mkdtempSync(join(REPO_ROOT, '.vstream', 'build-'));
    execFileSync(
      join(REPO_ROOT, 'node_modules/.bin/tsc'),
      ['-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', out],
      { cwd: REPO_ROOT },
    );
    const cli = join(out, 'src/cli.js');
    expect(execFileSync(process.execPath, [cli, '--help'], { encoding: 'utf8', cwd: REPO_ROOT })).toContain(
      'controller            run the operator',
    );
    expect(execFileSync(process.execPath, [cli, 'crd'], { encoding: 'utf8', cwd: REPO_ROOT })).toContain(
      'name: livestreams.vstream.io',
    );
    rmSync(out, { recursive: true, force: true });
  }, 60_000);
});
