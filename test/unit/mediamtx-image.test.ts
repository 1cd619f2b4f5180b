// The MediaMTX image is the controller's setting, not a CRD default copied into every stored LiveStream.
import { describe, expect, it } from 'vitest';
import { liveStreamCrd } from '../../src/api/crd.ts';
import { DEFAULT_MEDIAMTX_IMAGE, type LiveStream } from '../../src/api/livestream.ts';
import { renderStream } from '../../src/render/objects.ts';

const ls = (spec: LiveStream['spec'] = {}): LiveStream => ({
  apiVersion: 'vstream.io/v1alpha1',
  kind: 'LiveStream',
  metadata: { name: 'show', namespace: 'events', uid: 'u' },
  spec,
});
const image = (r: ReturnType<typeof renderStream>) =>
  (
    r.deployment.spec as { template: { spec: { containers: { name: string; image: string }[] } } }
  ).template.spec.containers.find((c) => c.name === 'mediamtx')?.image;

describe('the MediaMTX image', () => {
  it('has no default in the CRD, so the API server stores none', () => {
    const text = JSON.stringify(liveStreamCrd());
    expect(text).not.toContain(`"default":"${DEFAULT_MEDIAMTX_IMAGE}"`);
  });
  it('comes from the controller (--mediamtx-image), else the pinned release; a stream that names one keeps it', () => {
    expect(image(renderStream(ls(), { sidecarImage: 's' }))).toBe(DEFAULT_MEDIAMTX_IMAGE);
    expect(image(renderStream(ls(), { sidecarImage: 's', mediamtxImage: 'mirror.example/mediamtx:1.20.1' }))).toBe(
      'mirror.example/mediamtx:1.20.1',
    );
    expect(
      image(
        renderStream(ls({ mediamtx: { image: 'own.example/mtx:1' } }), {
          sidecarImage: 's',
          mediamtxImage: 'mirror.example/mediamtx:1.20.1',
        }),
      ),
    ).toBe('own.example/mtx:1');
  });
});
