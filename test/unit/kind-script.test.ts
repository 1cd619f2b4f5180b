// The kind path cannot run here (no container engine); this checks the script's plan and its guard, which is
// everything before the first docker/kind call.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const script = new URL('../e2e/kind/run.sh', import.meta.url).pathname;

describe('test/e2e/kind/run.sh', () => {
  it('plans cluster, image build and load, chart install, and the test run against the cluster', () => {
    const r = spawnSync('bash', [script, '--plan'], {
      encoding: 'utf8',
      env: { ...process.env, VSTREAM_IMAGE_TAG: 't1', KIND_CLUSTER: 'c1' },
    });
    expect(r.status).toBe(0);
    const steps = r.stdout.trim().split('\n');
    expect(steps[0]).toMatch(/^kind create cluster --name c1/);
    expect(steps[1]).toBe('docker build -t ghcr.io/vstream/vstream:t1 .');
    expect(steps[2]).toBe('kind load docker-image ghcr.io/vstream/vstream:t1 --name c1');
    expect(steps[3]).toContain('helm install vstream charts/vstream');
    expect(steps[4]).toContain('VSTREAM_USE_EXISTING_CLUSTER=true');
  });

  it('says what is missing instead of failing half-way when there is no kind or docker', () => {
    const r = spawnSync('bash', [script], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME } });
    if (r.status === 2) expect(r.stderr).toMatch(/(docker|kind) is required/);
    else expect.fail(`expected the guard to stop the script here (exit ${r.status}): ${r.stderr}`);
  });
});
