// What the controller may touch and when a child needs a write. Pure functions over objects:
//  - ownership: a child is ours only when it carries this LiveStream's controller reference (or, for a recordings
//    claim kept under reclaimPolicy Retain, our labels for this stream name: that is how a re-created stream finds
//    its recordings again);
//  - removals: every applied child carries a hash of what we sent. Server-side apply removes a field we stop
//    sending only when we apply again, so a changed hash is what triggers that apply; the live values are then
//    compared too, so hand edits to fields we own are repaired.
import type { LiveStream } from '../api/livestream.ts';
import type { KubeObject } from '../kube/rest.ts';
import { MANAGED_BY, STREAM_LABEL } from '../render/names.ts';
import { contentHash } from '../render/objects.ts';
import { sameQuantity } from './quantity.ts';

export const APPLIED_HASH_ANNOTATION = 'vstream.io/applied-hash';

type Meta = Pick<KubeObject, 'metadata'>;

export function controllerOf(o: Meta) {
  return o.metadata.ownerReferences?.find((r) => r.controller);
}

/**
 * client-go's IsControlledBy, plus the label-only recordings claim a Retain policy leaves behind. The kind is
 * passed in because objects from a list carry none.
 */
export function isOurs(kind: string, o: Meta, ls: LiveStream): boolean {
  const ref = controllerOf(o);
  if (ref) return ref.uid === ls.metadata.uid;
  return (
    kind === 'PersistentVolumeClaim' &&
    o.metadata.labels?.['app.kubernetes.io/managed-by'] === MANAGED_BY &&
    o.metadata.labels?.[STREAM_LABEL] === ls.metadata.name
  );
}

/** Cached children that were shrunk by leanChild: comparing one with a desired object needs a read first. */
const leaned = new WeakSet<object>();

/**
 * What the informers keep of a ConfigMap, a Deployment or a Service: metadata, a Deployment's status, and of a
 * Service only what a render reads back (its ports with the node ports the server allocated, its type) and its
 * status (the load balancer's address). Their bodies (the rendered config, the pod template, the Service's cluster
 * IPs and defaults) are most of the controller's memory per stream, and are needed only to compare after someone
 * else changed the object or to see what a spec change replaces: the reconciler reads the object then. Everything
 * else (ownership, applied hash, versions, readiness) is in what is kept.
 */
export function leanChild(kind: string, o: KubeObject): KubeObject {
  const { managedFields: _m, ...metadata } = o.metadata;
  let lean: KubeObject;
  if (kind === 'ConfigMap') lean = { apiVersion: 'v1', kind, metadata };
  else if (kind === 'Deployment')
    lean = { apiVersion: 'apps/v1', kind, metadata, ...(o.status ? { status: o.status } : {}) };
  else if (kind === 'Service') {
    const spec = o.spec as { type?: string; ports?: Record<string, unknown>[] } | undefined;
    lean = {
      apiVersion: 'v1',
      kind,
      metadata,
      spec: {
        ...(spec?.type ? { type: spec.type } : {}),
        ports: (spec?.ports ?? []).map(({ name, protocol, port, nodePort }) => ({
          ...(name !== undefined ? { name } : {}),
          ...(protocol !== undefined ? { protocol } : {}),
          ...(port !== undefined ? { port } : {}),
          ...(nodePort !== undefined ? { nodePort } : {}),
        })),
      },
      ...(o.status ? { status: o.status } : {}),
    };
  } else return o;
  leaned.add(lean);
  return lean;
}

/** True for a cached object without the body a comparison needs. */
export const isLean = (_kind: string, o: KubeObject) => leaned.has(o);

/** The desired object with the hash of itself in an annotation. */
export function withAppliedHash<T extends KubeObject>(desired: T): T {
  const hash = contentHash(desired);
  return {
    ...desired,
    metadata: {
      ...desired.metadata,
      annotations: { ...desired.metadata.annotations, [APPLIED_HASH_ANNOTATION]: hash },
    },
  };
}

/**
 * True when applying `desired` (which carries its applied hash) would change nothing we care about: the live
 * object was last applied from the same desired state, and it still holds every value we set, or it has not
 * changed since our own last apply (what remains different is then another manager's or the server's doing, and
 * applying again would not change it).
 */
export function upToDate(desired: KubeObject, live: KubeObject, lastAppliedVersion?: string): boolean {
  const want = desired.metadata.annotations?.[APPLIED_HASH_ANNOTATION];
  if (!want || live.metadata.annotations?.[APPLIED_HASH_ANNOTATION] !== want) return false;
  if (lastAppliedVersion !== undefined && live.metadata.resourceVersion === lastAppliedVersion) return true;
  return isSubset(desired, live);
}

/** Keys whose values are resource quantities, compared by value (the server rewrites them canonically). */
const QUANTITY_PARENTS = new Set(['limits', 'requests']);
const QUANTITY_KEYS = new Set(['sizeLimit', 'storage']);

/** Every value in desired is present and equal in live (live may carry server defaults and other managers' fields). */
export function isSubset(desired: unknown, live: unknown, key = '', parent = ''): boolean {
  if (Array.isArray(desired)) {
    // An empty list we send and a field the server omits are the same thing.
    if (desired.length === 0 && live === undefined) return true;
    return Array.isArray(live) && live.length === desired.length && desired.every((d, i) => isSubset(d, live[i]));
  }
  if (desired && typeof desired === 'object') {
    if (!live || typeof live !== 'object') return false;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) =>
      isSubset(v, (live as Record<string, unknown>)[k], k, key),
    );
  }
  if (desired === live) return true;
  const quantity = QUANTITY_KEYS.has(key) || QUANTITY_PARENTS.has(parent);
  return (
    quantity &&
    (typeof desired === 'string' || typeof desired === 'number') &&
    (typeof live === 'string' || typeof live === 'number') &&
    sameQuantity(desired, live)
  );
}

/** True when an apply answer shows the object existed before our apply created it (another manager's fields). */
export function hadOtherManagers(applied: KubeObject, fieldManager: string): boolean {
  const managers = (applied.metadata.managedFields ?? []) as { manager?: string }[];
  return managers.some((m) => m.manager !== fieldManager);
}
