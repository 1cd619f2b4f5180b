// The sync handler: LiveStream key -> (render -> apply what differs -> read back -> status). Level-triggered:
// it looks only at the current state of the world, and a pass with nothing to change sends no write at all.
import type { Logger } from 'pino';
import { API_VERSION, KIND, type LiveStream } from '../api/livestream.ts';
import { isConflict, type Kube, KubeError, type KubeObject, resourcePath } from '../kube/rest.ts';
import { names } from '../render/names.ts';
import {
  childObjects,
  internalSecretObject,
  publishSecretObject,
  type RenderedStream,
  renderStream,
} from '../render/objects.ts';
import { newPublishToken } from '../token/publish.ts';
import type { EventRecorder } from './events.ts';
import type { Informer } from './informer.ts';
import { type ApiLocator, probeMediaMTX } from './mediamtx-probe.ts';
import { desiredStatus, isSubset, type Observed, type Problem, statusUpToDate, withTransitions } from './status.ts';
import type { Result } from './workqueue.ts';

export const FIELD_MANAGER = 'vstream-controller';

export interface SecretInfo {
  metadata: KubeObject['metadata'];
  /** Key names only: values never enter the controller's cache. */
  keys: string[];
}

export interface Caches {
  streams: Informer<LiveStream & { metadata: KubeObject['metadata'] }>;
  configMaps: Informer;
  deployments: Informer;
  services: Informer;
  pvcs: Informer;
  /** Secrets the operator generated (label-selected), as metadata + key names. */
  ownedSecrets: Informer<SecretInfo>;
}

export interface ReconcilerOptions {
  sidecarImage: string;
  /** Poll MediaMTX for live/viewers; off in benchmarks where no MediaMTX runs. */
  locateApi?: ApiLocator;
  liveResyncMs?: number;
}

export class Reconciler {
  private readonly kube: Kube;
  private readonly caches: Caches;
  private readonly events: EventRecorder;
  private readonly log: Logger;
  private readonly opts: ReconcilerOptions;
  private readonly secretWaits = new Map<string, number>();
  /** Per-stream MediaMTX API tokens: generated once and never changed, so read once instead of every poll. */
  private readonly apiTokens = new Map<string, string>();

  constructor(kube: Kube, caches: Caches, events: EventRecorder, log: Logger, opts: ReconcilerOptions) {
    this.kube = kube;
    this.caches = caches;
    this.events = events;
    this.log = log;
    this.opts = opts;
  }

  async reconcile(key: string): Promise<Result> {
    const [namespace, name] = key.split('/') as [string, string];
    const ls = this.caches.streams.get(namespace, name);
    if (!ls || ls.metadata.deletionTimestamp) {
      this.secretWaits.delete(key);
      this.apiTokens.delete(key);
      return undefined; // owned children go with it by garbage collection
    }
    const log = this.log.child({ livestream: { namespace, name }, generation: ls.metadata.generation });

    let rendered: RenderedStream;
    try {
      rendered = renderStream(ls, { sidecarImage: this.opts.sidecarImage });
    } catch (e) {
      const problem = { reason: 'InvalidSpec', message: (e as Error).message };
      await this.writeStatus(ls, { spec: {} as never, publishSecret: { name: '', key: '' }, renderProblem: problem });
      return undefined;
    }

    const secretProblem = await this.ensureSecrets(ls, rendered);
    let applyProblem: Problem | undefined;
    for (const obj of childObjects(rendered)) {
      // Without its Secrets the pod could not start; hold the Deployment back until they resolve.
      if (obj.kind === 'Deployment' && secretProblem && !this.caches.deployments.get(namespace, obj.metadata.name))
        continue;
      try {
        await this.applyIfChanged(obj as KubeObject, log);
      } catch (e) {
        applyProblem = { reason: 'ApplyFailed', message: `${obj.kind} ${obj.metadata.name}: ${(e as Error).message}` };
        log.warn({ kind: obj.kind, error: (e as Error).message }, 'apply failed');
      }
    }

    const deployment = this.caches.deployments.get(namespace, names(name).deployment);
    const observed: Observed = {
      spec: rendered.spec,
      publishSecret: rendered.publishSecret,
      deployment,
      service: this.caches.services.get(namespace, names(name).service),
      ...(secretProblem ? { secretProblem } : {}),
      ...(applyProblem ? { applyProblem } : {}),
    };
    const probe = await this.probe(ls, rendered, deployment);
    if (probe) observed.probe = probe;
    await this.writeStatus(ls, observed);

    if (applyProblem) throw new Error(applyProblem.message); // rate-limited retry
    if (secretProblem) {
      // Referenced Secrets are not watched (that would cache every Secret in the cluster): poll with backoff.
      const n = this.secretWaits.get(key) ?? 0;
      this.secretWaits.set(key, n + 1);
      return { requeueAfterMs: Math.min(60_000, 1000 * 2 ** n) };
    }
    this.secretWaits.delete(key);
    // Live state and viewers change without any Kubernetes event: poll them while the stream runs.
    if (this.opts.locateApi && deployment)
      return { requeueAfterMs: probe ? (this.opts.liveResyncMs ?? 10_000) : 3_000 };
    return undefined;
  }

  /** Server-side apply, skipped when the cached live object already carries every desired value. */
  private async applyIfChanged(desired: KubeObject, log: Logger): Promise<void> {
    const cache = this.cacheFor(desired.kind);
    const live = cache?.get(desired.metadata.namespace, desired.metadata.name);
    // An explicitly empty list lets SSA drop an owner reference we set before (reclaimPolicy Delete -> Retain).
    if (desired.kind === 'PersistentVolumeClaim') desired.metadata.ownerReferences ??= [];
    if (live && isSubset(desired, live)) return;
    log.info({ kind: desired.kind, child: desired.metadata.name, reason: live ? 'drifted' : 'missing' }, 'applying');
    const applied = await this.kube.apply(desired, FIELD_MANAGER, { force: true });
    delete applied.metadata.managedFields;
    // Read back into the cache at once, so the next pass compares against what the server now holds.
    cache?.store.set(`${desired.metadata.namespace}/${desired.metadata.name}`, applied);
  }

  private cacheFor(kind: string): Informer | undefined {
    const c = this.caches;
    return (
      {
        ConfigMap: c.configMaps,
        Deployment: c.deployments,
        Service: c.services,
        PersistentVolumeClaim: c.pvcs,
      } as Record<string, Informer>
    )[kind];
  }

  private async ensureSecrets(ls: LiveStream, r: RenderedStream): Promise<Problem | undefined> {
    const ns = ls.metadata.namespace;
    const n = names(ls.metadata.name);
    // Generated Secrets are created once and never replaced: a regenerated token would cut off a live streamer.
    if (!this.caches.ownedSecrets.get(ns, n.internalSecret))
      await this.createOnce(internalSecretObject(ls, newPublishToken()) as KubeObject);
    if (r.publishSecret.generated) {
      if (!this.caches.ownedSecrets.get(ns, n.publishSecret))
        await this.createOnce(publishSecretObject(ls, newPublishToken()) as KubeObject);
    } else {
      const p = await this.checkSecretKey(
        ns,
        r.publishSecret.name,
        r.publishSecret.key,
        'spec.ingest.publishTokenSecretRef',
      );
      if (p) return p;
    }
    const jwt = r.spec.playback.access === 'jwt' ? r.spec.playback.jwt : undefined;
    if (jwt?.keysSecretRef) {
      const ref = jwt.keysSecretRef;
      const field = 'spec.playback.jwt.keysSecretRef';
      // jose is loaded only by controllers that have JWT-protected streams to check.
      const { parseJwtKeys } = await import('../auth/keys.ts');
      const p = await this.checkSecretKey(ns, ref.name, ref.key ?? 'jwks.json', field, (text) =>
        parseJwtKeys(text, `Secret ${ref.name} key ${ref.key ?? 'jwks.json'}`, jwt.algorithms),
      );
      if (p) return p;
    }
    return undefined;
  }

  private async createOnce(obj: KubeObject): Promise<void> {
    try {
      await this.kube.create(obj);
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
  }

  /** Reads a referenced Secret; the problem it reports names the field, Secret and key, never the value. */
  private async checkSecretKey(
    ns: string,
    name: string,
    key: string,
    field: string,
    validate?: (text: string) => unknown,
  ): Promise<Problem | undefined> {
    const secret = await this.kube.getOrUndefined<{ data?: Record<string, string> }>(
      resourcePath('v1', 'Secret', ns, name),
    );
    if (!secret) return { reason: 'SecretNotFound', message: `${field}: Secret ${ns}/${name} does not exist` };
    const value = secret.data?.[key];
    if (value === undefined)
      return { reason: 'SecretKeyMissing', message: `${field}: Secret ${ns}/${name} has no key "${key}"` };
    if (validate) {
      try {
        validate(Buffer.from(value, 'base64').toString('utf8'));
      } catch (e) {
        return { reason: 'SecretInvalid', message: `${field}: ${(e as Error).message}` };
      }
    }
    return undefined;
  }

  private async probe(ls: LiveStream, r: RenderedStream, deployment?: KubeObject) {
    const base = this.opts.locateApi?.(ls.metadata.namespace, ls.metadata.name);
    if (!base || !deployment) return undefined;
    const key = `${ls.metadata.namespace}/${ls.metadata.name}`;
    try {
      let token = this.apiTokens.get(key);
      if (!token) {
        const secret = await this.kube.getOrUndefined<{ data?: Record<string, string> }>(
          resourcePath('v1', 'Secret', ls.metadata.namespace, names(ls.metadata.name).internalSecret),
        );
        const data = secret?.data?.['api-token'];
        if (!data) return undefined;
        token = Buffer.from(data, 'base64').toString('utf8');
        this.apiTokens.set(key, token);
      }
      return await probeMediaMTX(base, r.spec.path, token);
    } catch {
      return undefined;
    }
  }

  private async writeStatus(ls: LiveStream, observed: Observed): Promise<void> {
    const desired = desiredStatus(ls, observed);
    if (statusUpToDate(desired, ls.status)) return;
    const status = withTransitions(desired, ls.status, new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'));
    const body = {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: ls.metadata.name, namespace: ls.metadata.namespace },
      status,
    };
    try {
      const updated = await this.kube.apply<LiveStream>(body as unknown as KubeObject, FIELD_MANAGER, {
        force: true,
        subresource: 'status',
      });
      this.caches.streams.store.set(`${ls.metadata.namespace}/${ls.metadata.name}`, updated as never);
    } catch (e) {
      if (e instanceof KubeError && e.status === 404) return; // deleted meanwhile
      throw e;
    }
    // Pending is where every stream starts: not worth an event. Every other phase change is.
    if (ls.status?.phase !== status.phase && status.phase !== 'Pending') {
      const warn = status.phase === 'Failed' || status.phase === 'Degraded';
      const bad = status.conditions?.find((c) => c.status === 'False' && c.type !== 'Live');
      const reason = bad?.reason ?? status.phase!;
      const note = bad?.message ?? `LiveStream is ${status.phase}`;
      void this.events.emit(
        ls,
        warn ? 'Warning' : 'Normal',
        warn ? reason : status.phase!,
        warn ? note : `LiveStream is ${status.phase}`,
      );
    }
  }
}
