// The sidecar container runs the image's own entrypoint with V8 heap flags in front of the script; its memory limit
// leaves room above the capped heap (figures: bench/results/stream-cost.json).
import { describe, expect, it } from 'vitest';
import { IMAGE_CONFIG } from '../../scripts/image-rootfs.ts';
import { renderStream, SIDECAR_NODE_FLAGS, SIDECAR_RESOURCES } from '../../src/render/objects.ts';
import { examples } from './examples.ts';

const mib = (q: string) => Number(q.replace(/Mi$/, ''));

describe('the auth sidecar container', () => {
  const ls = examples()[0]!.stream;
  const containers = (
    renderStream(ls, { sidecarImage: 'vstream:test' }).deployment as unknown as {
      spec: {
        template: {
          spec: { initContainers: { name: string; command?: string[]; resources?: unknown; restartPolicy?: string }[] };
        };
      };
    }
  ).spec.template.spec.initContainers;
  // A native sidecar: an init container kubelet keeps running (and starts MediaMTX only once it answers).
  const sidecar = containers.find((c) => c.name === 'auth')!;

  it('is a native sidecar whose startup probe (/startz) gates MediaMTX, and whose readiness is /readyz', () => {
    expect(sidecar.restartPolicy).toBe('Always');
    const probes = sidecar as {
      startupProbe?: { httpGet?: { path: string } };
      readinessProbe?: { httpGet?: { path: string } };
    };
    expect(probes.startupProbe?.httpGet?.path).toBe('/startz');
    expect(probes.readinessProbe?.httpGet?.path).toBe('/readyz');
  });

  it("runs the image's entrypoint with the heap flags before the script", () => {
    const [node, script] = IMAGE_CONFIG.entrypoint;
    expect(sidecar.command).toEqual([node, ...SIDECAR_NODE_FLAGS, script]);
    expect(SIDECAR_NODE_FLAGS.every((f) => f.startsWith('--'))).toBe(true);
  });

  it('has a memory limit well above the capped old space and a request below the limit', () => {
    expect(sidecar.resources).toEqual(SIDECAR_RESOURCES);
    const oldSpace = Number(/--max-old-space-size=(\d+)/.exec(SIDECAR_NODE_FLAGS.join(' '))?.[1]);
    const limit = mib(SIDECAR_RESOURCES.limits.memory);
    // ~50 MiB of the node binary's pages and ~30 MiB of code, buffers and young generation beside the old space.
    expect(limit).toBeGreaterThanOrEqual(oldSpace + 96);
    expect(mib(SIDECAR_RESOURCES.requests.memory)).toBeLessThan(limit);
  });
});
