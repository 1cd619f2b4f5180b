// The release version, and the image that carries both `vstream controller` and `vstream auth`: the chart's
// default image and the sidecar the operator injects are the same reference, so they cannot disagree.
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
export const IMAGE_REPOSITORY = 'ghcr.io/vstream/vstream';
export const DEFAULT_IMAGE = `${IMAGE_REPOSITORY}:${VERSION}`;
