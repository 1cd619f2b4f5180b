// A fake API server for reconciler unit tests (sample-controller style): objects in a map, every request recorded,
// and informer caches that see writes only when the test says the watch delivered them (sync), so tests can put
// the cache behind the server the way a real watch can be.
import pino from 'pino';
import { API_VERSION, type LiveStream } from '../../src/api/livestream.ts';
import { leanChild } from '../../src/controller/children.ts';
import { EventRecorder } from '../../src/controller/events.ts';
import { Informer } from '../../src/controller/informer.ts';
import {
  type Caches,
  type KubeApi,
  Reconciler,
  type ReconcilerOptions,
  type SecretInfo,
} from '../../src/controller/reconcile.ts';
import { type Kube, KubeError, type KubeObject, objectPath, resourcePath } from '../../src/kube/rest.ts';

export interface Action {
  verb: 'get' | 'create' | 'apply';
  path: string;
  body?: KubeObject;
}

const clone = <T>(v: T): T => structuredClone(v);

export class FakeKube implements KubeApi {
  readonly objects = new Map<string, KubeObject>();
  readonly actions: Action[] = [];
  private rv = 100;
  /** Called with an apply's path before it is served: lets a test create a namesake "concurrently". */
  beforeApply?: (path: string) => void;

  writes(): Action[] {
    return this.actions.filter((a) => a.verb !== 'get');
  }

  put(obj: KubeObject, manager = 'someone-else'): KubeObject {
    const o = clone(obj);
    if (o.stringData) {
      // As the API server does: stringData is write-only and lands base64-encoded in data.
      const data = (o.data ?? {}) as Record<string, string>;
      for (const [k, v] of Object.entries(o.stringData as Record<string, string>))
        data[k] = Buffer.from(v).toString('base64');
      o.data = data;
      delete o.stringData;
    }
    o.metadata.resourceVersion = String(++this.rv);
    o.metadata.uid ??= `uid-${this.rv}`;
    o.metadata.creationTimestamp ??= new Date(Date.now() - 60_000).toISOString();
    o.metadata.managedFields = [{ manager, operation: 'Update' }];
    this.objects.set(objectPath(o), o);
    return o;
  }

  remove(path: string): void {
    this.objects.delete(path);
  }

  async getOrUndefined<T = KubeObject>(path: string): Promise<T | undefined> {
    this.actions.push({ verb: 'get', path });
    const o = this.objects.get(path);
    return o ? (clone(o) as T) : undefined;
  }

  async create<T = KubeObject>(obj: KubeObject): Promise<T> {
    const path = objectPath(obj);
    this.actions.push({ verb: 'create', path, body: clone(obj) });
    if (this.objects.has(path)) throw new KubeError(409, 'AlreadyExists', `${path} already exists`);
    return clone(this.put(obj, 'vstream-controller')) as T;
  }

  async apply<T = KubeObject>(
    obj: KubeObject,
    fieldManager: string,
    opts: { force?: boolean; subresource?: 'status' } = {},
  ): Promise<T> {
    const path = objectPath(obj);
    this.actions.push({
      verb: 'apply',
      path: path + (opts.subresource ? `/${opts.subresource}` : ''),
      body: clone(obj),
    });
    this.beforeApply?.(path);
    const live = this.objects.get(path);
    if (opts.subresource === 'status') {
      if (!live) throw new KubeError(404, 'NotFound', `${path} not found`);
      live.status = clone(obj.status);
      live.metadata.resourceVersion = String(++this.rv);
      return clone(live) as T;
    }
    // Server-side apply reduced to what the reconciler relies on: our fields replace what we sent before, other
    // managers' metadata stays, and the answer lists every manager.
    const others = ((live?.metadata.managedFields ?? []) as { manager: string }[]).filter(
      (m) => m.manager !== fieldManager,
    );
    const next: KubeObject = {
      ...clone(obj),
      metadata: {
        ...clone(obj.metadata),
        uid: live?.metadata.uid ?? `uid-${this.rv + 1}`,
        creationTimestamp: live?.metadata.creationTimestamp ?? new Date().toISOString(),
        resourceVersion: String(++this.rv),
        // As the API server does for Deployments: only a spec change moves the generation.
        generation:
          (live?.metadata.generation ?? 0) + (live && JSON.stringify(live.spec) === JSON.stringify(obj.spec) ? 0 : 1),
        managedFields: [...others, { manager: fieldManager, operation: 'Apply' }],
      },
      ...(live?.status ? { status: live.status } : {}),
    };
    this.objects.set(path, next);
    return clone(next) as T;
  }
}

const silent = pino({ level: 'silent' });

/** Informer caches filled by `sync` from the fake's objects (label-selected as the controller's are). */
export function fakeCaches(fake: FakeKube) {
  const inf = <T extends { metadata: KubeObject['metadata'] } = KubeObject>(name: string) =>
    new Informer<T>(fake as unknown as Kube, { name, path: `/${name}` }, silent);
  const caches: Caches = {
    streams: inf('livestreams'),
    configMaps: inf('configmaps'),
    deployments: inf('deployments'),
    services: inf('services'),
    pvcs: inf('persistentvolumeclaims'),
    ownedSecrets: inf<SecretInfo>('secrets'),
  };
  const plural: Record<string, keyof Caches> = {
    livestreams: 'streams',
    configmaps: 'configMaps',
    deployments: 'deployments',
    services: 'services',
    persistentvolumeclaims: 'pvcs',
    secrets: 'ownedSecrets',
  };
  /** Delivers the fake's current objects to the caches, with add/update/delete events like a watch. */
  const sync = () => {
    for (const [, cache] of Object.entries(caches)) {
      const store = (cache as Informer).store;
      const seen = new Set<string>();
      for (const o of fake.objects.values()) {
        const kind = /\/(\w+)\/[^/]+$/.exec(objectPath(o))?.[1] ?? '';
        if (caches[plural[kind] as keyof Caches] !== cache) continue;
        if (kind !== 'livestreams' && o.metadata.labels?.['app.kubernetes.io/managed-by'] !== 'vstream') continue;
        const key = `${o.metadata.namespace}/${o.metadata.name}`;
        seen.add(key);
        const copy = clone(o);
        delete copy.metadata.managedFields;
        if (kind === 'secrets') delete copy.data;
        // What the controller's informers keep (src/controller/main.ts).
        const lean =
          kind === 'configmaps'
            ? leanChild('ConfigMap', copy)
            : kind === 'deployments'
              ? leanChild('Deployment', copy)
              : kind === 'services'
                ? leanChild('Service', copy)
                : copy;
        const old = store.get(key);
        if (old?.metadata.resourceVersion === lean.metadata.resourceVersion) continue;
        store.set(key, lean);
        (cache as unknown as { emit(t: string, o: unknown, old?: unknown): void }).emit(
          old ? 'update' : 'add',
          lean,
          old,
        );
      }
      for (const [key, old] of store) {
        if (seen.has(key)) continue;
        store.delete(key);
        (cache as unknown as { emit(t: string, o: unknown): void }).emit('delete', old);
      }
    }
  };
  return { caches, sync };
}

export function liveStreamObject(name: string, spec: LiveStream['spec'] = {}, namespace = 'events'): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: 'LiveStream',
    metadata: { name, namespace, generation: 1 },
    spec,
  } as unknown as KubeObject;
}

export const pathOf = resourcePath;

/** A reconciler on a fresh fake API, with silent logs and no event de-duplication (tests count every event). */
export function fakeReconciler(opts: Partial<ReconcilerOptions> = {}) {
  const fake = new FakeKube();
  const { caches, sync } = fakeCaches(fake);
  const log = pino({ level: 'silent' });
  const reconciler = new Reconciler(fake, caches, new EventRecorder(fake as unknown as Kube, log, 'test', 0), log, {
    sidecarImage: 'vstream:test',
    ...opts,
  });
  return { fake, caches, sync, reconciler };
}
