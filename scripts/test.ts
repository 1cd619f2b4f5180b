// `npm test`: everything CI runs, in order of cost, stopping at the first failure.
// 1. generated files fresh  2. lint/format  3. type-check  4. system packages and Go-built tools  5. vitest (all projects:
// unit, integration, e2e, and node, the real-node tier, when run as root)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useExistingCluster } from '../dev/cluster.ts';
import { ensureSystemPackages } from './system-deps.ts';

function step(title: string, cmd: string, args: string[]): void {
  const start = Date.now();
  console.log(`\n== ${title}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  const secs = ((Date.now() - start) / 1000).toFixed(1);
  if (r.status !== 0) {
    console.error(`== ${title} failed after ${secs}s`);
    process.exit(r.status ?? 1);
  }
  console.log(`== ${title} ok (${secs}s)`);
}

const extra = process.argv.slice(2);
step('generated files are fresh', 'node', ['scripts/gen-crd.ts', '--check']);
step('lint and format', 'biome', ['check', '.']);
step('type-check', 'tsc', ['-p', 'tsconfig.json']);
ensureSystemPackages();
step('build local control plane, real-node tools and MediaMTX (cached)', 'bash', ['tools/build.sh']);
// The node project runs a real kubelet and containerd in namespaces of their own: that takes root, and it brings its
// own cluster. Without root, or against an existing cluster, it is left out, loudly, and everything else runs.
const projects: string[] = [];
const why =
  process.getuid?.() !== 0
    ? 'it needs root for namespaces, mounts, cgroups'
    : useExistingCluster()
      ? 'it brings its own cluster (VSTREAM_USE_EXISTING_CLUSTER is set)'
      : '';
if (why && !extra.some((a) => a.startsWith('--project'))) {
  console.log(`\n== skipping the node project (real kubelet + containerd): ${why}`);
  projects.push('--project', 'unit', '--project', 'integration', '--project', 'e2e');
}
const report = join(mkdtempSync(join(tmpdir(), 'vstream-test-')), 'vitest.json');
step('tests', 'vitest', [
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
  ...projects,
  ...extra,
]);
// One plain closing line with the counts, for CI readers that do not parse vitest's own summary.
const r = JSON.parse(readFileSync(report, 'utf8')) as {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
};
console.log(
  `\ntests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`,
);
