// The controller's list+watches, apart from src/controller/main.ts so the benchmark can open the same ones without
// loading the controller.
import { API_VERSION, PLURAL } from '../api/livestream.ts';
import { MANAGED_BY } from '../render/names.ts';

const MANAGED = `app.kubernetes.io/managed-by=${MANAGED_BY}`;

/** One list+watch: its informer's name, its collection path and selectors. */
export interface WatchSpec {
  name: string;
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/**
 * What the controller lists and watches, cluster-wide (or per watched namespace): the LiveStreams, every child kind
 * it creates (by its managed-by label) and kubernetes.io/tls Secrets. One table, so the benchmark's "baseline with
 * the controller's watches" opens exactly these.
 */
export const WATCHES = {
  streams: { name: PLURAL, path: `/apis/${API_VERSION}/${PLURAL}` },
  configMaps: { name: 'configmaps', path: '/api/v1/configmaps', labelSelector: MANAGED },
  deployments: { name: 'deployments', path: '/apis/apps/v1/deployments', labelSelector: MANAGED },
  services: { name: 'services', path: '/api/v1/services', labelSelector: MANAGED },
  pvcs: { name: 'persistentvolumeclaims', path: '/api/v1/persistentvolumeclaims', labelSelector: MANAGED },
  ownedSecrets: { name: 'secrets', path: '/api/v1/secrets', labelSelector: MANAGED },
  tlsSecrets: { name: 'tls-secrets', path: '/api/v1/secrets', fieldSelector: 'type=kubernetes.io/tls' },
} as const satisfies Record<string, WatchSpec>;
