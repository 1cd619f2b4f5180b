// spec.recording.storage.size may grow (CEL rejects shrinking): the controller applies the larger request to the
// claim it owns, and Kubernetes expands the volume where the claim's StorageClass has allowVolumeExpansion: true.
// Where it has not (or the claim is not dynamically provisioned) the API server refuses the change; that refusal
// becomes a condition that says what to do, instead of a bare apply error. The claim keeps working at its size.
import { Reason } from '../api/conditions.ts';
import type { KubeObject } from '../kube/rest.ts';
import type { Problem } from './status.ts';

/** The API server's words for a claim that may not be resized (admission PersistentVolumeClaimResize, validation). */
const RESIZE_REFUSED = /can be resized|support resize|allowVolumeExpansion|spec is immutable after creation/i;

export function volumeGrowthProblem(obj: KubeObject, e: Error): Problem | undefined {
  if (obj.kind !== 'PersistentVolumeClaim' || !RESIZE_REFUSED.test(e.message)) return undefined;
  const size = (obj.spec as { resources?: { requests?: { storage?: string } } } | undefined)?.resources?.requests
    ?.storage;
  return {
    reason: Reason.VolumeExpansionUnsupported,
    message: `spec.recording.storage.size: the recordings claim ${obj.metadata.name} cannot grow to ${size}: its StorageClass does not allow volume expansion (allowVolumeExpansion: true), or the volume was not provisioned by one. Recording goes on at the current size. The API server said: ${e.message}`,
  };
}
