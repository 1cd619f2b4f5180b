// Writes charts/vstream/README.md from the `# --` comments in values.yaml and README.md.gotmpl, with helm-docs
// built from its Go module (tools/build.sh helm-docs). `--check` writes nothing and fails when the README is stale
// (the chart test checks the same).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, toolPath } from '../dev/tools.ts';

export const CHART_README = join(REPO_ROOT, 'charts/vstream/README.md');

/** The README helm-docs renders now (dry run: nothing written). */
export function renderChartReadme(): string {
  const out = execFileSync(
    toolPath('helm-docs'),
    [
      '--chart-search-root',
      join(REPO_ROOT, 'charts'),
      '--sort-values-order',
      'file',
      '--skip-version-footer',
      '--dry-run',
      '--log-level',
      'warning',
    ],
    { encoding: 'utf8', cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return out.endsWith('\n') ? out : `${out}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = renderChartReadme();
  if (process.argv.includes('--check')) {
    if (readFileSync(CHART_README, 'utf8') !== text) {
      console.error('charts/vstream/README.md is stale: run npm run gen:chart-docs');
      process.exit(1);
    }
  } else {
    writeFileSync(CHART_README, text);
    console.log('wrote charts/vstream/README.md');
  }
}
