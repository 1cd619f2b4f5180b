// Two loops over one LiveStream key, each level-triggered (it looks only at the current state of the world, and a
// pass with nothing to change sends no write at all):
//  - reconcile: render -> check Secrets -> apply the children that differ -> status. Driven by watch events.
//  - pollLive:  ask MediaMTX whether a publisher is online and how many readers it has -> status when that changed.
//    It runs on its own queue, so a thousand live streams being polled never delay a spec change.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { ConditionType, EventReason, Reason } from '../api/conditions.ts';
import { API_VERSION, KIND, type LiveStream } from '../api/livestream.ts';
import { isConflict, type Kube, KubeError, type KubeObject, objectPath, resourcePath } from '../kube/rest.ts';
import { type ConfigChange, configChanges, whoWouldDrop } from '../mediamtx/reload.ts';
import type { ObservedService } from '../render/endpoints.ts';
import { names } from '../render/names.ts';
import {
  CONFIG_FILE,
  childObjects,
  internalSecretObject,
  publishSecretObject,
  type RenderedStream,
  renderStream,
  TEMPLATE_HASH_ANNOTATION,
} from '../render/objects.ts';
import { newPublishToken } from '../token/publish.ts';
import { eventId } from '../webhooks/event.ts';
import { WebhookHub } from '../webhooks/hub.ts';
import type { QueueOptions } from '../webhooks/queue.ts';
import { eventsBetween } from '../webhooks/transitions.ts';
import { type CertificateCheck, checkCertificate, isoSeconds } from './certificate.ts';
import {
  APPLIED_HASH_ANNOTATION,
  controllerOf,
  hadOtherManagers,
  isLean,
  isOurs,
  isSubset,
  leanChild,
  upToDate,
  withAppliedHash,
} from './children.ts';
import type { EventRecorder } from './events.ts';
import type { Informer } from './informer.ts';
import { type ApiLocator, type ProbeResult, probeMediaMTX } from './mediamtx-probe.ts';
import { RecentWrites } from './recent-writes.ts';
import { RECORDING_PAUSED_MESSAGE, RecordingFiguresCache, sidecarFromApi } from './recording-status.ts';
import { ASK_EVERY_MS as RESTREAM_ASK_EVERY_MS, RestreamStatusCache } from './restream-status.ts';
import {
  deploymentAvailable,
  desiredStatus,
  type Observed,
  type Problem,
  statusUpToDate,
  withTransitions,
} from './status.ts';
import { controlPlan, endingMessage, getControl, newEndings, pushControl } from './stream-control.ts';
import { volumeGrowthProblem } from './volume-growth.ts';
import type { Result } from './workqueue.ts';

export const FIELD_MANAGER = 'vstream-controller';
/** On a generated publish Secret that replaced a deleted one: when, so status can say the token changed. */
export const REGENERATED_ANNOTATION = 'vstream.io/regenerated-at';

export interface SecretInfo {
  metadata: KubeObject['metadata'];
  /** Key names only: values never enter the controller's cache. */
  keys: string[];
}

type Stream = LiveStream & { metadata: KubeObject['metadata'] };

export interface Caches {
  streams: Informer<Stream>;
  configMaps: Informer;
  deployments: Informer;
  services: Informer;
  pvcs: Informer;
  /** Secrets the operator generated (label-selected), as metadata + key names. */
  ownedSecrets: Informer<SecretInfo>;
}

/** The part of the API the reconciler uses (a fake in unit tests, the REST client otherwise). */
export type KubeApi = Pick<Kube, 'getOrUndefined' | 'create' | 'apply'>;

export interface ReconcilerOptions {
  sidecarImage: string;
  /** MediaMTX image for streams that do not name one. */
  mediamtxImage?: string;
  ffmpegImage?: string;
  /** Image pull secrets (names, in each stream's namespace) for stream pods. */
  imagePullSecrets?: string[];
  /** Poll MediaMTX for live/viewers; off in benchmarks where no MediaMTX runs. */
  locateApi?: ApiLocator;
  liveResyncMs?: number;
  /** Called when a stream has a Deployment, so its live state gets polled. */
  onRunning?: (key: string) => void;
  /** Asks for a spec pass (the live loop uses it when sessions ended and a held change can go ahead). */
  requeue?: (key: string) => void;
  /** Where NodePort streams are reached from outside the cluster (--node-address): a node's public IP or name. */
  nodeAddress?: string;
  /** How long a stream whose publisher dropped still counts as live (a reconnect within it is not an outage). */
  liveGraceMs?: number;
  /** Where a stream's sidecar serves GET /recording; by default the API's host on the sidecar's ops port. */
  locateRecording?: ApiLocator;
  /** Where the webhook metrics go. */
  registry?: Registry;
  /** Webhook delivery settings (tests shorten the backoff); defaults in src/webhooks/queue.ts. */
  webhookDelivery?: Omit<QueueOptions, 'onOutcome' | 'registry'>;
}

/** A streamer's reconnect after a network blip takes seconds: within this the stream is still live. */
export const LIVE_GRACE_MS = 10_000;
/** A moved viewer count reaches status at most this often per stream... */
export const VIEWERS_MIN_INTERVAL_MS = 60_000;
/**
 * ...and at most this often over all streams. Beside it: recording figures (≤ 5/s, about 2.2/s for 1 000 recording
 * streams: ./recording-status.ts) and transitions (going live or offline), rare by nature.
 */
export const VIEWER_WRITES_PER_SECOND = 4;
const VIEWER_WRITES_BURST = 20;

/** A token bucket: `take` succeeds at most `rate` times a second on average, `burst` at once. */
export class TokenBucket {
  private tokens: number;
  private at = 0;
  private readonly rate: number;
  private readonly burst: number;
  constructor(rate: number, burst: number) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
  }
  take(now: number): boolean {
    if (this.at) this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** A TLS certificate is looked at again at least this often (renewals by cert-manager are not watched). */
const CERTIFICATE_RECHECK_MS = 60 * 60_000;

/** A change that would drop connected sessions, and whether the ConfigMap, the Deployment or both carry it. */
interface Disruption {
  changes: string;
  who: string;
  config: boolean;
  pod: boolean;
}

/** Everything a status needs that only the spec loop can work out (render, Secrets, applies). */
type SpecObservation = Omit<Observed, 'deployment' | 'service' | 'probe' | 'nodeAddress'>;

const childKey = (kind: string, namespace: string | undefined, name: string) => `${kind}/${namespace}/${name}`;
const streamKey = (ls: { metadata: { namespace?: string; name: string } }) =>
  `${ls.metadata.namespace}/${ls.metadata.name}`;

export class Reconciler {
  private readonly kube: KubeApi;
  private readonly caches: Caches;
  private readonly events: EventRecorder;
  private readonly log: Logger;
  private readonly opts: ReconcilerOptions;
  /** Backoff for problems only a poll can see resolve (referenced Secrets, other owners' objects are not watched). */
  private readonly waits = new Map<string, number>();
  /** Per-stream MediaMTX API tokens: read once, dropped when the Secret is recreated. */
  private readonly apiTokens = new Map<string, string>();
  /** Our own write results, newer than the read-only informer caches until their watch events arrive. */
  private readonly writtenChildren = new RecentWrites<KubeObject>();
  private readonly writtenStreams = new RecentWrites<Stream>();
  /**
   * Each child's version (and a Deployment's generation) right after our last apply, or when a comparison last
   * found it matching: unchanged since means nothing to repair, without reading its body (the caches keep none).
   */
  private readonly verified = new Map<string, { resourceVersion?: string; generation?: number }>();
  private readonly observations = new Map<string, SpecObservation>();
  private readonly liveState = new Map<string, ProbeResult>();
  /**
   * Streams whose publisher was online at the last poll (undefined) or was seen gone at this time: the grace period
   * runs from when the drop was first seen, so a slow poll never eats into it.
   */
  private readonly droppedAt = new Map<string, number | undefined>();
  /** Streams with a disruptive change waiting for their sessions to end. */
  private readonly held = new Set<string>();
  private readonly statusChain = new Map<string, Promise<void>>();
  private childCacheMap?: Map<string, Informer>;
  /** When each stream's viewer count was last put in status, and the budget all streams share for doing so. */
  private readonly viewersReportedAt = new Map<string, number>();
  private readonly viewerBudget = new TokenBucket(VIEWER_WRITES_PER_SECOND, VIEWER_WRITES_BURST);

  /** status.recording figures from the sidecars (./recording-status.ts: asked and written rarely). */
  private readonly recordingFigures?: RecordingFiguresCache;
  /** spec.webhooks: outbox, delivery queue and status.webhooks (src/webhooks/hub.ts). Sends only while active. */
  readonly webhooks: WebhookHub;
  /** Streams the live loop has asked MediaMTX about since this process started (or became leader). */
  private readonly polled = new Set<string>();
  /** Where each stream's sidecar serves its ops port (/recording, /control). */
  private readonly locateSidecar?: ApiLocator;
  /** spec.enabled as each stream's sidecar last confirmed it, and the last ending at maxDuration reported (./stream-control.ts). */
  private readonly controlAcked = new Map<string, boolean>();
  private readonly endingSeq = new Map<string, number>();
  /** status.restream from the sidecars (./restream-status.ts: written when a target's state changes). */
  private readonly restreamStates?: RestreamStatusCache;

  constructor(kube: KubeApi, caches: Caches, events: EventRecorder, log: Logger, opts: ReconcilerOptions) {
    this.kube = kube;
    this.caches = caches;
    this.events = events;
    this.log = log;
    this.opts = opts;
    const locate = opts.locateRecording ?? (opts.locateApi && sidecarFromApi(opts.locateApi));
    this.recordingFigures = locate ? new RecordingFiguresCache({ locate }) : undefined;
    this.webhooks = new WebhookHub({
      kube,
      log,
      ...(opts.registry ? { registry: opts.registry } : {}),
      ...opts.webhookDelivery,
      onChange: async (key) => {
        const o = this.observations.get(key);
        if (o)
          await this.writeStatus(key, o).catch((e) =>
            log.warn({ key, error: (e as Error).message }, 'webhook status write failed'),
          );
      },
    });
    this.locateSidecar = locate;
    this.restreamStates = locate ? new RestreamStatusCache({ locate }) : undefined;
    for (const [kind, cache] of this.childCaches()) {
      cache.on((type, obj) => {
        const k = childKey(kind, obj.metadata.namespace, obj.metadata.name);
        if (type !== 'delete') {
          // The watch has caught up with our write: the overlay's copy is no longer needed.
          this.writtenChildren.resolve(k, obj);
          return;
        }
        this.writtenChildren.forget(k);
        this.verified.delete(k);
      });
    }
    caches.streams.on((type, obj) => {
      if (type === 'delete') this.forgetStream(streamKey(obj));
      else this.writtenStreams.resolve(streamKey(obj), obj);
    });
  }

  /**
   * True when a child's watch event only echoes our own last write (it carries the version our apply or create
   * returned): the pass that wrote it worked from that very state, so another pass would find nothing to do.
   * client-go controllers reach the same end with "expectations"; without it every new stream costs a second,
   * empty pass (a render and a compare of every child).
   */
  isOwnEcho(kind: string, obj: Pick<KubeObject, 'metadata'>): boolean {
    const k = childKey(kind, obj.metadata.namespace, obj.metadata.name);
    const rv = obj.metadata.resourceVersion;
    return (
      rv !== undefined && (this.verified.get(k)?.resourceVersion === rv || this.writtenChildren.versionOf(k) === rv)
    );
  }

  /** The LiveStream as the informer has it, or as our last status write returned it if that is newer. */
  stream(key: string): Stream | undefined {
    const [namespace, name] = key.split('/') as [string, string];
    return this.writtenStreams.resolve(key, this.caches.streams.get(namespace, name));
  }

  private child(kind: string, namespace: string, name: string): KubeObject | undefined {
    const cache = this.cacheFor(kind);
    return this.writtenChildren.resolve(childKey(kind, namespace, name), cache?.get(namespace, name));
  }

  private forgetStream(key: string): void {
    this.waits.delete(key);
    this.apiTokens.delete(key);
    this.observations.delete(key);
    this.liveState.delete(key);
    this.droppedAt.delete(key);
    this.viewersReportedAt.delete(key);
    this.held.delete(key);
    this.controlAcked.delete(key);
    this.endingSeq.delete(key);
    this.writtenStreams.forget(key);
    this.polled.delete(key);
    this.webhooks.forget(key);
  }

  /** Leadership gained or lost: webhooks are sent by the leader only, and a new leadership starts from status. */
  setLeader(leader: boolean): void {
    if (!leader) this.polled.clear();
    this.webhooks.setActive(leader);
  }

  async reconcile(key: string): Promise<Result> {
    const ls = this.stream(key);
    if (!ls || ls.metadata.deletionTimestamp) {
      this.forgetStream(key);
      return undefined; // owned children go with it by garbage collection
    }
    const { namespace, name } = ls.metadata;
    const log = this.log.child({ livestream: { namespace, name }, generation: ls.metadata.generation });

    let rendered: RenderedStream;
    try {
      rendered = this.render(ls);
    } catch (e) {
      const problem = { reason: Reason.InvalidSpec, message: (e as Error).message };
      this.observations.delete(key);
      await this.writeStatus(key, { spec: {} as never, publishSecret: { name: '', key: '' }, renderProblem: problem });
      return undefined;
    }

    const secrets = await this.ensureSecrets(ls, rendered);
    const webhookProblem = await this.checkWebhookSecrets(ls);
    const conflicts: string[] = [...secrets.conflicts];
    let applyProblem: Problem | undefined;
    // The Service goes first: the node ports it is given and its load balancer's address feed MediaMTX's config
    // (WebRTC listens on the port it advertises, and advertises the reachable host), so the ConfigMap and the
    // Deployment are rendered from the Service as applied, and a new stream's first pod already has them right.
    const seen = edgeOf(this.child('Service', namespace, names(name).service));
    try {
      const conflict = await this.applyChild(ls, rendered.service as KubeObject, log);
      if (conflict) conflicts.push(conflict);
    } catch (e) {
      applyProblem = { reason: Reason.ApplyFailed, message: `Service ${name}: ${(e as Error).message}` };
      log.warn({ kind: 'Service', error: (e as Error).message }, 'apply failed');
    }
    if (edgeOf(this.child('Service', namespace, names(name).service)) !== seen) rendered = this.render(ls);
    const disruption = await this.disruption(key, rendered);
    const hold = disruption && rendered.spec.disruptiveUpdates !== 'Immediate' ? disruption : undefined;
    if (hold) this.held.add(key);
    else this.held.delete(key);
    for (const obj of childObjects(rendered)) {
      if (obj === rendered.service) continue;
      // Without its Secrets and its ConfigMap (ours, not a namesake) the pod could not start right: hold the
      // Deployment back until they resolve. A running one is left as it is.
      if (obj.kind === 'Deployment' && (secrets.problem || conflicts.length)) continue;
      if (hold && ((obj.kind === 'ConfigMap' && hold.config) || (obj.kind === 'Deployment' && hold.pod))) continue;
      try {
        const conflict = await this.applyChild(ls, obj as KubeObject, log);
        if (conflict) conflicts.push(conflict);
      } catch (e) {
        applyProblem = volumeGrowthProblem(obj as KubeObject, e as Error) ?? {
          reason: Reason.ApplyFailed,
          message: `${obj.kind} ${obj.metadata.name}: ${(e as Error).message}`,
        };
        log.warn({ kind: obj.kind, error: (e as Error).message }, 'apply failed');
      }
    }
    const conflictProblem = conflicts.length
      ? {
          reason: Reason.NameConflict,
          message: `${conflicts.join('; ')}. Nothing was changed; rename or delete the other object, or rename this LiveStream.`,
        }
      : undefined;
    // Warnings for standing problems go out when the condition first says so, not on every pass.
    const says = (type: string, p: Problem) =>
      ls.status?.conditions?.some((c) => c.type === type && c.reason === p.reason && c.message === p.message);
    if (conflictProblem && !says(ConditionType.Reconciled, conflictProblem))
      void this.events.emit(ls, 'Warning', Reason.NameConflict, conflictProblem.message);
    const configPending = hold
      ? {
          reason: Reason.WaitingForIdle,
          message: `Waiting until nobody is connected to apply: ${hold.changes}. Applying it now would drop ${hold.who}. Set spec.disruptiveUpdates to Immediate to apply such changes at once.`,
        }
      : undefined;
    if (configPending && !says(ConditionType.ConfigApplied, configPending))
      void this.events.emit(ls, 'Warning', Reason.WaitingForIdle, configPending.message);
    if (disruption && !hold && !applyProblem)
      void this.events.emit(
        ls,
        'Warning',
        EventReason.SessionsDropped,
        `Applied ${disruption.changes} with sessions connected (spec.disruptiveUpdates: Immediate): dropped ${disruption.who}.`,
      );

    // spec.enabled: tell the running pod now, not when kubelet delivers the new auth.json (up to a minute). A pod
    // that is not available yet is left to the live loop (one that starts reads the new auth.json anyway), so a
    // pass never waits on a sidecar that cannot answer.
    const dep = this.child('Deployment', namespace, names(name).deployment);
    if (deploymentAvailable(dep)) await this.syncControl(ls, key, rendered.spec, false);

    const cert = secrets.certificate;
    const observation: SpecObservation = {
      spec: rendered.spec,
      publishSecret: rendered.publishSecret,
      ...(cert?.ok ? { certificateCovers: cert.covers, certificateValidTo: isoSeconds(cert.validTo) } : {}),
      ...(secrets.problem ? { secretProblem: secrets.problem } : {}),
      ...(conflictProblem ? { conflictProblem } : {}),
      ...(applyProblem ? { applyProblem } : {}),
      ...(secrets.regeneratedAt ? { tokenRegeneratedAt: secrets.regeneratedAt } : {}),
      ...(configPending ? { configPending } : {}),
      ...(webhookProblem ? { webhookProblem } : {}),
    };
    this.observations.set(key, observation);
    await this.writeStatus(key, observation);

    if (applyProblem) throw new Error(applyProblem.message); // rate-limited retry
    if (secrets.problem || conflictProblem) {
      // Neither referenced Secrets nor other owners' objects are watched: poll, backing off. A conflict is
      // re-checked at least every 10 s, so a user who removes their object sees the stream start soon after.
      const n = this.waits.get(key) ?? 0;
      this.waits.set(key, n + 1);
      return { requeueAfterMs: Math.min(conflictProblem ? 10_000 : 60_000, 1000 * 2 ** n) };
    }
    this.waits.delete(key);
    if (this.opts.locateApi && this.child('Deployment', namespace, names(name).deployment)) this.opts.onRunning?.(key);
    // A certificate expires without any event: look again by then (and hourly, to see a renewal's new date).
    if (cert?.ok)
      return { requeueAfterMs: Math.max(1000, Math.min(CERTIFICATE_RECHECK_MS, +cert.validTo - Date.now())) };
    return undefined;
  }

  /** Renders from the spec and the stream's Service as last seen (its node ports, its load balancer's address). */
  private render(ls: Stream): RenderedStream {
    const service = this.child('Service', ls.metadata.namespace, names(ls.metadata.name).service);
    return renderStream(ls, {
      sidecarImage: this.opts.sidecarImage,
      ...(service ? { service: service as ObservedService } : {}),
      ...(this.opts.nodeAddress ? { nodeAddress: this.opts.nodeAddress } : {}),
      ...(this.opts.imagePullSecrets ? { imagePullSecrets: this.opts.imagePullSecrets } : {}),
      ...(this.opts.mediamtxImage ? { mediamtxImage: this.opts.mediamtxImage } : {}),
      ...(this.opts.ffmpegImage ? { ffmpegImage: this.opts.ffmpegImage } : {}),
    });
  }

  /**
   * The live loop: polls MediaMTX and writes status only when what it reports changed. Returns when to poll next
   * (nothing once the stream or its Deployment is gone).
   */
  async pollLive(key: string): Promise<Result> {
    const ls = this.stream(key);
    const deployment = ls && this.child('Deployment', ls.metadata.namespace, names(ls.metadata.name).deployment);
    const observation = this.observations.get(key);
    if (!ls || ls.metadata.deletionTimestamp || !deployment || !observation || !this.opts.locateApi) {
      this.liveState.delete(key);
      this.recordingFigures?.forget(key);
      this.restreamStates?.forget(key);
      return undefined;
    }
    if (!deploymentAvailable(deployment)) {
      // No pod is available, so nothing could answer: asking would cost a failed connection every 3 s per stream
      // (at 10 000 streams being created, most of the controller's CPU). The Deployment turning Available is a
      // child event that brings the stream back here through its spec pass (onRunning).
      const before = this.liveState.get(key);
      const stored = !this.polled.has(key) && ls.status?.live;
      this.liveState.delete(key);
      this.droppedAt.delete(key);
      this.polled.add(key);
      if (before || stored) await this.writeStatus(key, observation);
      return undefined;
    }
    let probe = await this.probe(ls, observation.spec.path);
    this.polled.add(key);
    await this.syncControl(ls, key, observation.spec, true);
    const before = this.liveState.get(key);
    const now = Date.now();
    const grace = this.opts.liveGraceMs ?? LIVE_GRACE_MS;
    let next = probe ? (this.opts.liveResyncMs ?? 10_000) : 3_000;
    const dropped = this.droppedAt.has(key) ? (this.droppedAt.get(key) ?? now) : undefined;
    if (probe?.online) this.droppedAt.set(key, undefined);
    // A switched-off stream's publisher was ended on purpose: no reconnect grace.
    else if (probe && dropped !== undefined && now - dropped < grace && observation.spec.enabled !== false) {
      // Dropped moments ago: still live (and held changes still wait) while the streamer reconnects.
      this.droppedAt.set(key, dropped);
      probe = {
        ...probe,
        online: true,
        reconnectingSince: new Date(dropped).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        ...(before?.publisher ? { publisher: before.publisher } : {}),
      };
      next = Math.min(next, grace - (now - dropped) + 50);
    } else if (probe) this.droppedAt.delete(key);
    // Going live, dropping, reconnecting: written at once. A viewer count that moved: at most once a minute per
    // stream and within a budget shared by all streams, so a thousand streams with moving audiences stay within a
    // few status writes a second; until then status keeps the count it last reported (MediaMTX's metrics have the
    // exact one).
    const transition = before?.online !== probe?.online || before?.reconnectingSince !== probe?.reconnectingSince;
    let viewersMoved = false;
    if (probe && before && !transition && probe.readers !== before.readers) {
      const last = this.viewersReportedAt.get(key) ?? 0;
      if (now - last >= VIEWERS_MIN_INTERVAL_MS && this.viewerBudget.take(now)) viewersMoved = true;
      else probe = { ...probe, readers: before.readers };
    }
    if (probe) this.liveState.set(key, probe);
    else this.liveState.delete(key);
    const changed = transition || viewersMoved;
    const recording = await this.pollRecording(ls, key, observation, probe?.online === true);
    const restream = await this.pollRestream(ls, key, observation, probe?.online === true);
    // A restreaming live stream is looked at more often, so a target's state reaches status within seconds.
    if (probe?.online && observation.spec.restream?.length) next = Math.min(next, RESTREAM_ASK_EVERY_MS);
    if (changed) this.viewersReportedAt.set(key, now);
    if (changed || recording || restream) await this.writeStatus(key, observation);
    // A change held for connected sessions goes ahead in a spec pass once they are gone.
    if (changed && this.held.has(key)) this.opts.requeue?.(key);
    return { requeueAfterMs: next };
  }

  /** Restream targets' states from the sidecar (./restream-status.ts); true when status should be written. */
  private async pollRestream(ls: Stream, key: string, o: SpecObservation, live: boolean): Promise<boolean> {
    const targets = o.spec.restream?.map((t) => t.name) ?? [];
    if (!this.restreamStates || !targets.length) return false;
    const { write, changed } = await this.restreamStates.refresh(
      key,
      ls.metadata.namespace,
      ls.metadata.name,
      targets,
      live,
      Date.now(),
      ls.status?.restream,
    );
    for (const t of changed) {
      if (t.state === 'Retrying')
        void this.events.emit(
          ls,
          'Warning',
          EventReason.RestreamRetrying,
          `Restream target ${t.name} failed: ${t.reason ?? 'no reason given'}. MediaMTX retries it every 5 s.`,
        );
      else if (t.state === 'Connected')
        void this.events.emit(
          ls,
          'Normal',
          EventReason.RestreamConnected,
          `Restream target ${t.name} receives the stream.`,
        );
    }
    return write;
  }

  /** Recording figures from the sidecar (rarely: see ./recording-status.ts); true when status should be written. */
  private async pollRecording(ls: Stream, key: string, o: SpecObservation, live: boolean): Promise<boolean> {
    if (!this.recordingFigures || !o.spec.recording?.enabled) return false;
    const r = ls.status?.recording;
    const current =
      r?.usedBytes !== undefined && r.freeBytes !== undefined
        ? {
            paused: r.paused ?? false,
            usedBytes: r.usedBytes,
            freeBytes: r.freeBytes,
            ...(r.oldest ? { oldest: r.oldest } : {}),
            ...(r.newest ? { newest: r.newest } : {}),
          }
        : undefined;
    const { ns, name } = { ns: ls.metadata.namespace, name: ls.metadata.name };
    const { write, change, segmentReady } = await this.recordingFigures.refresh(
      key,
      ns,
      name,
      live,
      Date.now(),
      current,
    );
    // A new segment began: the one before it is complete (its end is the newest the sidecar reported before).
    const segmentEvent =
      segmentReady &&
      this.webhooks.add(ls, [
        {
          id: eventId(ls.metadata.uid ?? key, 'recording.segment_ready', segmentReady.completedAt),
          type: 'recording.segment_ready',
          time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          data: { segmentEnd: segmentReady.completedAt, segments: String(segmentReady.segments) },
        },
      ]);
    if (change === 'paused') void this.events.emit(ls, 'Warning', Reason.VolumeFull, RECORDING_PAUSED_MESSAGE);
    else if (change === 'resumed')
      void this.events.emit(
        ls,
        'Normal',
        EventReason.RecordingResumed,
        'Space on the recordings volume again: recording resumed.',
      );
    return write || Boolean(segmentEvent);
  }

  /** spec.webhooks: each signing Secret and key exists (their values are read only when a request is signed). */
  private async checkWebhookSecrets(ls: Stream): Promise<Problem | undefined> {
    const hooks = ls.spec?.webhooks ?? [];
    for (const [i, w] of hooks.entries()) {
      const p = await this.checkSecretKey(
        ls.metadata.namespace,
        w.secretRef.name,
        w.secretRef.key ?? 'secret',
        `spec.webhooks[${i}].secretRef`,
      );
      if (p) return p;
    }
    return undefined;
  }

  /**
   * What applying the rendered stream would restart (MediaMTX servers by reloading the ConfigMap, or the pod by
   * changing its template), and whom that would drop given who is connected now. Undefined when nobody would notice.
   */
  private async disruption(key: string, r: RenderedStream): Promise<Disruption | undefined> {
    const { namespace, name } = r.configMap.metadata;
    const n = names(r.deployment.metadata.name);
    const running = await this.runningConfig(r.configMap as KubeObject);
    let changes: ConfigChange[] = [];
    if (running) {
      try {
        changes = configChanges(parseYaml(running, { version: '1.1' }) as Record<string, unknown>, r.config);
      } catch {
        changes = [{ key: name, class: 'server-restart', drops: 'everyone', restarts: 'MediaMTX (unreadable config)' }];
      }
    }
    const reloads = changes.filter((c) => c.class !== 'hot');
    const dep = this.child('Deployment', namespace, n.deployment);
    const desiredTemplate = (r.deployment.spec as { template: unknown }).template;
    const desiredHash = (r.deployment.metadata.annotations as Record<string, string>)[TEMPLATE_HASH_ANNOTATION];
    let pod = false;
    if (dep && dep.metadata.annotations?.[TEMPLATE_HASH_ANNOTATION] !== desiredHash) {
      // A different template hash: read the template itself (the cache keeps none) to see whether it differs.
      const full = isLean('Deployment', dep)
        ? await this.kube.getOrUndefined<KubeObject>(objectPath(r.deployment as KubeObject))
        : dep;
      pod = Boolean(full && !isSubset(desiredTemplate, (full.spec as { template?: unknown } | undefined)?.template));
    }
    if (!reloads.length && !pod) return undefined;
    const now = this.liveState.get(key);
    const sessions = {
      ...(now?.online ? { publisher: now.publisher ?? 'unknown' } : {}),
      readers: now?.readerTypes ?? [],
    };
    const all: ConfigChange[] = pod
      ? [...reloads, { key: 'pod', class: 'server-restart', drops: 'everyone', restarts: 'the pod' }]
      : reloads;
    const who = whoWouldDrop(all, sessions);
    if (!who) return undefined;
    const describe = (c: ConfigChange) =>
      c.key === 'pod' ? 'a new pod (its template changed)' : `${c.key} (restarts ${c.restarts})`;
    return { changes: all.map(describe).join('; '), who, config: reloads.length > 0, pod };
  }

  /**
   * Applies one child unless it already matches. Returns a conflict description (and touches nothing) when the
   * name belongs to an object this LiveStream does not control.
   */
  private async applyChild(ls: Stream, rendered: KubeObject, log: Logger): Promise<string | undefined> {
    const desired = withAppliedHash(rendered);
    const { kind } = desired;
    const { namespace = '', name } = desired.metadata;
    const key = childKey(kind, namespace, name);
    let live = this.child(kind, namespace, name);
    // Our informers select our label, so a namesake created by someone else is invisible to them: ask.
    if (!live) live = await this.kube.getOrUndefined<KubeObject>(objectPath(desired));
    let checkedAbsent = !live;
    if (live && !isOurs(kind, live, ls)) return this.describeConflict(kind, namespace, name, live);
    if (live && this.knownCurrent(key, desired, live)) return undefined;
    if (live && isLean(kind, live)) {
      // Changed since we last saw it match (or not seen since this process started): compare the whole object.
      live = await this.kube.getOrUndefined<KubeObject>(objectPath(desired));
      checkedAbsent = !live;
      if (live && !isOurs(kind, live, ls)) return this.describeConflict(kind, namespace, name, live);
    }
    if (live && upToDate(desired, live, this.verified.get(key)?.resourceVersion)) {
      this.remember(key, live);
      return undefined;
    }

    log.info({ kind, child: name, reason: live ? 'drifted' : 'missing' }, 'applying');
    const applied = await this.kube.apply<KubeObject>(desired, FIELD_MANAGER, { force: true });
    if (checkedAbsent && hadOtherManagers(applied, FIELD_MANAGER)) {
      // Someone created it between our read and our apply: withdraw every field we just set, ownership included.
      await this.kube.apply({ apiVersion: desired.apiVersion, kind, metadata: { name, namespace } }, FIELD_MANAGER, {
        force: false,
      });
      return this.describeConflict(kind, namespace, name, applied);
    }
    if (kind === 'PersistentVolumeClaim' && live && !controllerOf(live) && isOlder(live, ls)) {
      void this.events.emit(
        ls,
        'Normal',
        EventReason.RecordingsAdopted,
        `Using the recordings claim ${name} kept from an earlier LiveStream of this name (reclaimPolicy Retain).`,
      );
    }
    this.remember(key, applied);
    this.writtenChildren.record(key, leanChild(kind, slim(applied)));
    return undefined;
  }

  /**
   * The MediaMTX config the stream's ConfigMap holds, when it is not the one `desired` renders (undefined when it
   * is, or there is none yet). Read from the API only then: the cache keeps no ConfigMap data.
   */
  private async runningConfig(desired: KubeObject): Promise<string | undefined> {
    const { namespace = '', name } = desired.metadata;
    const cm = this.child('ConfigMap', namespace, name);
    if (!cm) return undefined;
    const key = childKey('ConfigMap', namespace, name);
    const want = withAppliedHash(desired);
    if (this.knownCurrent(key, want, cm)) return undefined;
    const full = isLean('ConfigMap', cm) ? await this.kube.getOrUndefined<KubeObject>(objectPath(desired)) : cm;
    // Matching after all (first look since a restart): remembered, so the apply that follows reads it no more.
    if (full && upToDate(want, full, this.verified.get(key)?.resourceVersion)) {
      this.remember(key, full);
      return undefined;
    }
    return (full?.data as Record<string, string> | undefined)?.[CONFIG_FILE];
  }

  /** A child we applied or found matching: its version and generation as they were then. */
  private remember(key: string, o: KubeObject): void {
    this.verified.set(key, { resourceVersion: o.metadata.resourceVersion, generation: o.metadata.generation });
  }

  /**
   * True when the child provably still holds what `desired` (with its applied hash) asks for, without its body: it
   * carries that hash and has not changed since we applied or verified it. For a Deployment a status update
   * changes the version but not the generation, which only a spec change moves.
   */
  private knownCurrent(key: string, desired: KubeObject, live: KubeObject): boolean {
    const want = desired.metadata.annotations?.[APPLIED_HASH_ANNOTATION];
    if (!want || live.metadata.annotations?.[APPLIED_HASH_ANNOTATION] !== want) return false;
    const v = this.verified.get(key);
    if (!v) return false;
    if (live.metadata.resourceVersion === v.resourceVersion) return true;
    return desired.kind === 'Deployment' && v.generation !== undefined && live.metadata.generation === v.generation;
  }

  private describeConflict(kind: string, namespace: string, name: string, other: Pick<KubeObject, 'metadata'>): string {
    const owner = controllerOf(other);
    return `${kind} ${namespace}/${name} already exists and is ${owner ? `controlled by ${owner.kind} ${owner.name}` : 'not managed by this LiveStream'}`;
  }

  private cacheFor(kind: string): Informer | undefined {
    return this.childCaches().get(kind);
  }

  private childCaches(): Map<string, Informer> {
    if (this.childCacheMap) return this.childCacheMap;
    const c = this.caches;
    this.childCacheMap = new Map<string, Informer>([
      ['ConfigMap', c.configMaps],
      ['Deployment', c.deployments],
      ['Service', c.services],
      ['PersistentVolumeClaim', c.pvcs],
      ['Secret', c.ownedSecrets as unknown as Informer],
    ]);
    return this.childCacheMap;
  }

  private async ensureSecrets(
    ls: Stream,
    r: RenderedStream,
  ): Promise<{ problem?: Problem; conflicts: string[]; regeneratedAt?: string; certificate?: CertificateCheck }> {
    const ns = ls.metadata.namespace;
    const n = names(ls.metadata.name);
    const conflicts: string[] = [];
    // Generated Secrets are created once and never replaced: a regenerated token would cut off a live streamer.
    const internal = await this.ensureGenerated(ls, n.internalSecret, () =>
      internalSecretObject(ls, newPublishToken()),
    );
    if (internal.conflict) conflicts.push(internal.conflict);
    if (internal.created) this.apiTokens.delete(streamKey(ls));
    let regeneratedAt: string | undefined;
    if (r.publishSecret.generated) {
      // Status names the Secret it advertised: creating that Secret again means the streamer's token changed.
      const advertised = ls.status?.ingest?.publishTokenSecretRef?.name === n.publishSecret;
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const publish = await this.ensureGenerated(ls, n.publishSecret, () => {
        const s = publishSecretObject(ls, newPublishToken());
        if (advertised) s.metadata.annotations = { [REGENERATED_ANNOTATION]: now };
        return s;
      });
      if (publish.conflict) conflicts.push(publish.conflict);
      if (publish.created && advertised) {
        void this.events.emit(
          ls,
          'Warning',
          'PublishTokenRegenerated',
          `Secret ${ns}/${n.publishSecret} was deleted; a new publish token was generated. Streamers need the new stream key.`,
        );
      }
      regeneratedAt = publish.created
        ? advertised
          ? now
          : undefined
        : this.writtenChildren.resolve(
            childKey('Secret', ns, n.publishSecret),
            this.caches.ownedSecrets.get(ns, n.publishSecret) as KubeObject | undefined,
          )?.metadata.annotations?.[REGENERATED_ANNOTATION];
    } else {
      const p = await this.checkSecretKey(
        ns,
        r.publishSecret.name,
        r.publishSecret.key,
        'spec.ingest.publishTokenSecretRef',
      );
      if (p) return { problem: p, conflicts };
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
      if (p) return { problem: p, conflicts };
    }
    let certificate: CertificateCheck | undefined;
    if (r.spec.tls) {
      const tls = await this.checkTls(ns, r.spec.tls.secretRef.name);
      if ('reason' in tls) return { problem: tls, conflicts };
      certificate = tls;
    }
    return { conflicts, ...(regeneratedAt ? { regeneratedAt } : {}), ...(certificate ? { certificate } : {}) };
  }

  /**
   * spec.tls.secretRef: both keys present, a certificate that parses, is valid now, and whose key is tls.key.
   * MediaMTX exits on a certificate it cannot load, so anything else is a condition and the pod is not given it.
   */
  private async checkTls(ns: string, name: string): Promise<Problem | CertificateCheck> {
    const field = 'spec.tls.secretRef';
    const secret = await this.kube.getOrUndefined<{ data?: Record<string, string> }>(
      resourcePath('v1', 'Secret', ns, name),
    );
    if (!secret) return { reason: Reason.SecretNotFound, message: `${field}: Secret ${ns}/${name} does not exist` };
    const missing = ['tls.crt', 'tls.key'].filter((k) => !secret.data?.[k]);
    if (missing.length)
      return {
        reason: Reason.SecretKeyMissing,
        message: `${field}: Secret ${ns}/${name} has no ${missing.map((k) => `"${k}"`).join(' or ')} (a kubernetes.io/tls Secret has both)`,
      };
    const text = (k: string) => Buffer.from(secret.data![k]!, 'base64').toString('utf8');
    const check = checkCertificate(text('tls.crt'), text('tls.key'), new Date());
    if (check.ok) return check;
    return {
      reason: Reason.CertificateInvalid,
      message: `${field}: Secret ${ns}/${name}: ${check.problem}${check.validTo && !check.problem.includes('expired') ? ` (it expires on ${isoSeconds(check.validTo)})` : ''}. MediaMTX is not given it; the running pod, if any, keeps its current one.`,
    };
  }

  /** Creates a generated Secret unless it exists; a namesake we do not control is a conflict, never adopted. */
  private async ensureGenerated(
    ls: Stream,
    name: string,
    make: () => KubeObject | ReturnType<typeof publishSecretObject>,
  ): Promise<{ created?: boolean; conflict?: string }> {
    const ns = ls.metadata.namespace;
    const key = childKey('Secret', ns, name);
    const cached = this.writtenChildren.resolve(key, this.caches.ownedSecrets.get(ns, name) as KubeObject | undefined);
    // Our informer selects our label, so a namesake created by someone else is invisible to it: ask.
    const existing = cached ?? (await this.kube.getOrUndefined<KubeObject>(resourcePath('v1', 'Secret', ns, name)));
    if (existing)
      return isOurs('Secret', existing, ls) ? {} : { conflict: this.describeConflict('Secret', ns, name, existing) };
    try {
      const created = await this.kube.create<KubeObject>(make() as KubeObject);
      // Remember only what the informer would: metadata, never the value.
      this.remember(key, created);
      const { name: n, namespace, resourceVersion, labels, annotations, ownerReferences } = created.metadata;
      this.writtenChildren.record(key, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: n, namespace, resourceVersion, labels, annotations, ownerReferences },
      });
      return { created: true };
    } catch (e) {
      if (!isConflict(e)) throw e;
      return {}; // created meanwhile (by us, in a pass this one raced with): the next pass checks its owner
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
    if (!secret) return { reason: Reason.SecretNotFound, message: `${field}: Secret ${ns}/${name} does not exist` };
    const value = secret.data?.[key];
    if (value === undefined)
      return { reason: Reason.SecretKeyMissing, message: `${field}: Secret ${ns}/${name} has no key "${key}"` };
    if (validate) {
      try {
        validate(Buffer.from(value, 'base64').toString('utf8'));
      } catch (e) {
        return { reason: Reason.SecretInvalid, message: `${field}: ${(e as Error).message}` };
      }
    }
    return undefined;
  }

  /** The stream's internal API token (MediaMTX's API and the sidecar's /control), read once. */
  private async apiToken(ls: Stream): Promise<string | undefined> {
    const key = streamKey(ls);
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
    return token;
  }

  /**
   * spec.enabled and maxDuration (./stream-control.ts): push spec.enabled to the sidecar when it may disagree, and,
   * from the live loop, look at a switched-off or limited stream's sidecar (pushing again if it disagrees, Events
   * for sessions ended at the limit). A failure leaves the state unconfirmed, so the next live poll tries again.
   */
  private async syncControl(ls: Stream, key: string, spec: SpecObservation['spec'], fromLiveLoop: boolean) {
    const want = spec.enabled !== false;
    const plan = controlPlan({
      enabled: want,
      maxDuration: Boolean(spec.ingest?.maxDuration),
      acked: this.controlAcked.get(key),
      phase: ls.status?.phase,
    });
    if (!plan.push && !(plan.watch && fromLiveLoop)) return;
    const base = this.locateSidecar?.(ls.metadata.namespace, ls.metadata.name);
    if (!base) return;
    try {
      const token = await this.apiToken(ls);
      if (!token) return;
      let state = plan.push ? await pushControl(base, token, want) : await getControl(base, token);
      if (state.enabled !== want) state = await pushControl(base, token, want);
      this.controlAcked.set(key, state.enabled);
      const last = state.endings.at(-1)?.seq;
      // A restarted sidecar numbers its endings from 1 again: everything it lists is then new.
      const seen = this.endingSeq.get(key);
      const fresh = newEndings(
        state.endings,
        last !== undefined && seen !== undefined && last < seen ? 0 : seen,
        Date.now(),
      );
      if (last !== undefined) this.endingSeq.set(key, last);
      else if (!this.endingSeq.has(key)) this.endingSeq.set(key, 0);
      for (const e of fresh)
        void this.events.emit(
          ls,
          'Normal',
          EventReason.MaxDurationReached,
          endingMessage(e, spec.ingest?.maxDuration ?? `${e.limitSeconds}s`),
        );
    } catch (e) {
      // What was confirmed last stays: it still disagrees with the spec, so the next live poll pushes again.
      this.log.debug(
        { livestream: { namespace: ls.metadata.namespace, name: ls.metadata.name }, error: (e as Error).message },
        'auth sidecar control not reachable; the live loop retries',
      );
    }
  }

  private async probe(ls: Stream, path: string): Promise<ProbeResult | undefined> {
    const base = this.opts.locateApi?.(ls.metadata.namespace, ls.metadata.name);
    if (!base) return undefined;
    const key = streamKey(ls);
    try {
      const token = await this.apiToken(ls);
      if (!token) return undefined;
      return await probeMediaMTX(base, path, token);
    } catch (e) {
      if ((e as Error).message.includes('401') || (e as Error).message.includes('403')) this.apiTokens.delete(key);
      return undefined;
    }
  }

  /** Both loops write status; one write per stream at a time, each from the freshest state. */
  private writeStatus(key: string, observation: SpecObservation): Promise<void> {
    const prev = this.statusChain.get(key) ?? Promise.resolve();
    const next = prev.then(() => this.writeStatusNow(key, observation));
    const settled = next.catch(() => undefined);
    this.statusChain.set(key, settled);
    void settled.then(() => {
      if (this.statusChain.get(key) === settled) this.statusChain.delete(key);
    });
    return next;
  }

  private async writeStatusNow(key: string, observation: SpecObservation): Promise<void> {
    const ls = this.stream(key);
    if (!ls) return;
    const { namespace, name } = ls.metadata;
    const n = names(name);
    // Not asked yet since this process started (or became leader): the stored live state stands until the first
    // poll, so a controller restart or failover is not a publisher that dropped (and no webhook says it was).
    const probe =
      this.liveState.get(key) ??
      (!this.polled.has(key) && ls.status?.live ? { online: true, readers: ls.status.viewers ?? 0 } : undefined);
    const observed: Observed = {
      ...observation,
      deployment: this.child('Deployment', namespace, n.deployment),
      service: this.child('Service', namespace, n.service),
      ...(this.opts.nodeAddress ? { nodeAddress: this.opts.nodeAddress } : {}),
      ...(probe ? { probe } : {}),
      ...(this.recordingFigures?.get(key) ? { recording: this.recordingFigures.get(key) } : {}),
      ...(this.restreamStates?.get(key) ? { restream: this.restreamStates.get(key) } : {}),
    };
    const hooks = this.webhooks.statusFor(ls);
    if (hooks) observed.webhooks = hooks;
    const desired = desiredStatus(ls, observed);
    if (statusUpToDate(desired, ls.status)) {
      // The outbox is written (a new leader finds it so): queue what is pending.
      if (hooks) this.webhooks.flush(ls);
      return;
    }
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    let status = withTransitions(desired, ls.status, now);
    // Transitions become webhook events in the same write that records them (the outbox: src/webhooks/hub.ts).
    if (hooks && this.webhooks.add(ls, eventsBetween(ls.status, status, ls.metadata.uid ?? key, now)))
      status = { ...status, webhooks: this.webhooks.statusFor(ls)! };
    const body = { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status };
    try {
      const updated = await this.kube.apply<Stream>(body as unknown as KubeObject, FIELD_MANAGER, {
        force: true,
        subresource: 'status',
      });
      delete updated.metadata.managedFields;
      this.writtenStreams.record(key, updated);
      if (hooks) this.webhooks.flush(updated);
    } catch (e) {
      if (e instanceof KubeError && e.status === 404) return; // deleted meanwhile
      throw e;
    }
    this.announce(ls, status);
  }

  /** Events for what a user notices: phase changes, and any advertised address that changed under them. */
  private announce(ls: Stream, status: NonNullable<LiveStream['status']>): void {
    const old = ls.status;
    const urls = (s: LiveStream['status']) =>
      [
        ['RTMP ingest server', s?.ingest?.rtmp?.server],
        ['SRT ingest URL', s?.ingest?.srt],
        ['RTSP ingest URL', s?.ingest?.rtsp],
        ['WHIP ingest URL', s?.ingest?.webrtc],
        ['HLS playback URL', s?.playback?.hls],
        ['WebRTC playback URL', s?.playback?.webrtc],
        ['RTSP playback URL', s?.playback?.rtsp],
        ['SRT playback URL', s?.playback?.srt],
      ] as const;
    const before = new Map<string, string | undefined>(urls(old));
    const changed: string[] = [];
    const lost: string[] = [];
    for (const [what, after] of urls(status)) {
      const was = before.get(what);
      if (was && after && was !== after) changed.push(`${what} changed from ${was} to ${after}`);
      if (was && !after && old?.endpoints?.host && !status.endpoints?.host) lost.push(`${what} ${was}`);
    }
    // Streamers and viewers hold on to these: a change (or a host that went away) is worth a warning; a host that
    // arrives (a load balancer got its address) is news.
    if (changed.length) void this.events.emit(ls, 'Warning', EventReason.EndpointChanged, `${changed.join('; ')}.`);
    if (lost.length)
      void this.events.emit(
        ls,
        'Warning',
        EventReason.EndpointChanged,
        `No longer reachable at ${old?.endpoints?.host}: ${lost.join('; ')}. ${status.conditions?.find((c) => c.type === ConditionType.EndpointsReady)?.message ?? ''}`.trim(),
      );
    if (status.endpoints?.host && old?.endpoints?.scope === 'Pending')
      void this.events.emit(
        ls,
        'Normal',
        EventReason.EndpointsAssigned,
        `Reachable at ${status.endpoints.host}${status.ingest?.url ? `: ingest ${status.ingest.url}` : ''}.`,
      );
    // Pending is where every stream starts: not worth an event. Every other phase change is.
    if (old?.phase === status.phase || status.phase === 'Pending') return;
    const warn = status.phase === 'Failed' || status.phase === 'Degraded';
    const bad = status.conditions?.find((c) => c.status === 'False' && c.type !== ConditionType.Live);
    void this.events.emit(
      ls,
      warn ? 'Warning' : 'Normal',
      warn ? (bad?.reason ?? status.phase!) : status.phase!,
      warn ? (bad?.message ?? `LiveStream is ${status.phase}`) : `LiveStream is ${status.phase}`,
    );
  }
}

/** The parts of an observed Service a render depends on: node ports and the load balancer's address. */
const edgeOf = (svc: KubeObject | undefined) => {
  const s = svc as ObservedService | undefined;
  return JSON.stringify([
    (s?.spec?.ports ?? []).map((p) => [p.name, p.protocol, p.nodePort]),
    s?.status?.loadBalancer?.ingress ?? [],
  ]);
};

const isOlder = (o: KubeObject, ls: Stream) =>
  Boolean(
    o.metadata.creationTimestamp &&
      ls.metadata.creationTimestamp &&
      o.metadata.creationTimestamp < (ls.metadata.creationTimestamp as string),
  );

/**
 * What a pass needs of a child we just applied, until the informer has it: identity, version, annotations (the
 * applied and template hashes), the rendered config, a Service's allocated ports and status. Other specs are ours by
 * construction (the version is the one our apply returned), so they are not kept twice in memory during a burst.
 */
function slim(o: KubeObject): KubeObject {
  const { managedFields: _m, ...metadata } = o.metadata;
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata,
    ...(o.data ? { data: o.data } : {}),
    // A Service's spec carries what the server allocated (node ports), which the render reads back.
    ...(o.kind === 'Service' && o.spec ? { spec: o.spec } : {}),
    ...(o.status ? { status: o.status } : {}),
  };
}
