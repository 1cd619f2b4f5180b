// `npm test`: everything CI runs, in order of cost, stopping at the first failure before the tests; both test runs
// always run and report.
// 1. generated files fresh  2. lint/format  3. type-check  4. system packages and Go-built tools  5. vitest: unit,
// integration and e2e  6. vitest: node, the real-node tier, when run as root
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useExistingCluster } from '../dev/cluster.ts';
import { ensureSystemPackages } from './system-deps.ts';

/** Runs one step; a failed step ends the run unless `goOn` (test runs: both tiers report before the exit). */
function step(title: string, cmd: string, args: string[], goOn = false): boolean {
  const start = Date.now();
  console.log(`\n== ${title}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  const secs = ((Date.now() - start) / 1000).toFixed(1);
  if (r.status !== 0) {
    console.error(`== ${title} failed after ${secs}s`);
    if (!goOn) process.exit(r.status ?? 1);
    return false;
  }
  console.log(`== ${title} ok (${secs}s)`);
  return true;
}

const extra = process.argv.slice(2);
step('generated files are fresh', 'node', ['scripts/gen-crd.ts', '--check']);
step('lint and format', 'biome', ['check', '.']);
step('type-check', 'tsc', ['-p', 'tsconfig.json']);
ensureSystemPackages();
step('build local control plane, real-node tools and MediaMTX (cached)', 'bash', ['tools/build.sh']);
// The node project runs a real kubelet and containerd in namespaces of their own: that takes root, and it brings its
// own cluster. Without root, or against an existing cluster, it is left out, loudly, and everything else runs.
const why =
  process.getuid?.() !== 0
    ? 'it needs root for namespaces, mounts, cgroups'
    : useExistingCluster()
      ? 'it brings its own cluster (VSTREAM_USE_EXISTING_CLUSTER is set)'
      : '';
const chosen = extra.some((a) => a.startsWith('--project'));
if (why && !chosen) console.log(`\n== skipping the node project (real kubelet + containerd): ${why}`);

interface Counts {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
}
const total: Counts = { numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0 };
let failed = false;
function vitest(title: string, args: string[]): void {
  const report = join(mkdtempSync(join(tmpdir(), 'vstream-test-')), 'vitest.json');
  const argv = ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args];
  if (!step(title, 'vitest', argv, true)) failed = true;
  if (!existsSync(report)) return; // vitest itself failed to start: the step's own output says why
  const r = JSON.parse(readFileSync(report, 'utf8')) as Counts;
  for (const k of Object.keys(total) as (keyof Counts)[]) total[k] += r[k];
}
// The real-node tier runs after the others, not beside them: its start (image builds, containerd, kubelet,
// kube-proxy) takes both cores for minutes, and the likeliest cause of three clean-clone CI runs in which one e2e file
// each timed out waiting for a pod that its logs show listening was that overlap.
if (chosen) vitest('tests', extra);
else {
  // A file filter may match files of one run only; the other then has nothing to run, which is no failure.
  const filtered = extra.length ? ['--passWithNoTests', ...extra] : [];
  vitest('tests', ['--project', 'unit', '--project', 'integration', '--project', 'e2e', ...filtered]);
  if (!why) vitest('real-node tests', ['--project', 'node', ...filtered]);
}
// One plain closing line with the counts, for CI readers that do not parse vitest's own summary.
console.log(
  `\ntests: ${total.numPassedTests} passed, ${total.numFailedTests} failed, ${total.numPendingTests + total.numTodoTests} skipped`,
);
if (failed) process.exit(1);
