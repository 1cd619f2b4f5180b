// `vstream controller`: informers -> work queue -> Reconciler, behind a Lease, with metrics and health on their own
// port. Every replica keeps warm caches; only the leader runs workers.

import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { LiveStream } from '../api/livestream.ts';
import { splitHostPort } from '../cli-flags.ts';
import { Kube, type KubeObject } from '../kube/rest.ts';
import { createLogger } from '../log/logger.ts';
import { http } from '../net/node-http.ts';
import { STREAM_LABEL } from '../render/names.ts';
import { leanChild } from './children.ts';
import { registerConditionMetrics, ScrapeTimeGauge } from './condition-metrics.ts';
import { startCrdVersionCheck } from './crd-version.ts';
import { EventRecorder } from './events.ts';
import { Informer } from './informer.ts';
import { LeaderElector } from './leader.ts';
import { type ApiLocator, inClusterLocator } from './mediamtx-probe.ts';
import { NamespacedInformers } from './namespaces.ts';
import {
  type Caches,
  REGENERATED_ANNOTATION,
  Reconciler,
  type ReconcilerOptions,
  type SecretInfo,
} from './reconcile.ts';
import { WATCHES, type WatchSpec } from './watches.ts';
import { WorkQueue } from './workqueue.ts';

export interface ControllerOptions {
  kubeconfig?: string;
  sidecarImage: string;
  concurrency?: number;
  /** Workers of the live-state poll queue. */
  liveConcurrency?: number;
  /** How often a running stream's MediaMTX is asked for live state and viewers. */
  liveResyncMs?: number;
  metricsAddr?: string;
  leaderElect?: boolean;
  leaseNamespace?: string;
  identity?: string;
  /** 'cluster' (Service DNS), 'off', or a function (the local pod runner's port map). */
  probe?: 'cluster' | 'off' | ApiLocator;
  /** Where each stream's sidecar serves GET /recording (tests with the local pod runner); by default derived from probe. */
  recordingLocator?: ApiLocator;
  log?: Logger;
  /** Where NodePort streams are reached from outside the cluster (a node's public IP or DNS name). */
  nodeAddress?: string;
  /** Informers older than this without a successful list/watch fail /livez. */
  watchdogMs?: number;
  /** Only these namespaces (one informer per namespace and kind; namespaced RBAC suffices). Empty: all. */
  watchNamespaces?: string[];
  /** Image pull secrets (names) added to every stream pod. */
  imagePullSecrets?: string[];
  /** MediaMTX image for streams that do not name one (default: the pinned release). */
  mediamtxImage?: string;
  /** Image with ffmpeg for thumbnail containers (default MediaMTX's ffmpeg variant). */
  ffmpegImage?: string;
  /** How often the installed CRD's release is compared with ours (default 10 minutes). */
  crdCheckMs?: number;
  /** Webhook delivery settings (tests shorten the backoff); defaults in src/webhooks/queue.ts. */
  webhookDelivery?: ReconcilerOptions['webhookDelivery'];
}

const CHILD_EVENT_DELAY_MS = 500;

function controllerMetrics(registry: Registry) {
  const labels = { registers: [registry] };
  return {
    total: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      ...labels,
    }),
    errors: new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
      ...labels,
    }),
    time: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ...labels,
    }),
    active: new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: ['controller'],
      ...labels,
    }),
    leader: new Gauge({
      name: 'leader_election_master_status',
      help: 'Whether this replica is the leader (1) or not (0)',
      labelNames: ['name'],
      ...labels,
    }),
    phases: new Gauge({ name: 'vstream_livestreams', help: 'LiveStreams by phase', labelNames: ['phase'], ...labels }),
  };
}

/** 1 for each LiveStream recordings claim: the recordings-volume alert joins kubelet's volume stats on it. */
function recordingsClaimInfo(registry: Registry, pvcs: () => KubeObject[]) {
  return new ScrapeTimeGauge({
    name: 'vstream_recordings_claim_info',
    help: "A LiveStream's recordings PersistentVolumeClaim (value 1)",
    labelNames: ['stream_namespace', 'stream', 'persistentvolumeclaim'],
    registers: [registry],
    collect() {
      this.reset();
      for (const pvc of pvcs()) {
        const stream = pvc.metadata.labels?.[STREAM_LABEL];
        if (stream && pvc.metadata.namespace)
          this.set({ stream_namespace: pvc.metadata.namespace, stream, persistentvolumeclaim: pvc.metadata.name }, 1);
      }
    },
  });
}

/** Keep only what the controller needs of a Secret: never its values, nor annotations that may copy them. */
const secretInfo = (o: KubeObject): SecretInfo => ({
  metadata: {
    name: o.metadata.name,
    namespace: o.metadata.namespace,
    resourceVersion: o.metadata.resourceVersion,
    labels: o.metadata.labels,
    ownerReferences: o.metadata.ownerReferences,
    ...(o.metadata.annotations?.[REGENERATED_ANNOTATION]
      ? { annotations: { [REGENERATED_ANNOTATION]: o.metadata.annotations[REGENERATED_ANNOTATION] } }
      : {}),
  },
  keys: Object.keys((o.data as Record<string, string> | undefined) ?? {}),
});

export async function runController(opts: ControllerOptions) {
  const log = opts.log ?? createLogger('controller');
  const registry = new Registry();
  const kube = await Kube.load(opts.kubeconfig, { registry });
  collectDefaultMetrics({ register: registry });
  const m = controllerMetrics(registry);
  const identity = opts.identity ?? `${hostname()}-${process.pid}`;

  const watched = opts.watchNamespaces ?? [];
  const inf = <T extends { metadata: KubeObject['metadata'] } = KubeObject>(
    watch: WatchSpec,
    extra: Partial<ConstructorParameters<typeof Informer<T>>[1]> = {},
  ) => {
    const { name, path, ...selectors } = watch;
    const make = (p: string) => new Informer<T>(kube, { name, path: p, ...selectors, ...extra }, log);
    return watched.length ? NamespacedInformers.of<T>(name, path, watched, make) : make(path);
  };
  const caches: Caches = {
    streams: inf(WATCHES.streams) as Caches['streams'],
    // Metadata (and a Deployment's status, a Service's ports and status) only: see leanChild.
    configMaps: inf(WATCHES.configMaps, { transform: (o) => leanChild('ConfigMap', o) }),
    deployments: inf(WATCHES.deployments, { transform: (o) => leanChild('Deployment', o) }),
    services: inf(WATCHES.services, { transform: (o) => leanChild('Service', o) }),
    pvcs: inf(WATCHES.pvcs),
    ownedSecrets: inf<SecretInfo>(WATCHES.ownedSecrets, { transform: secretInfo }),
  };
  // Certificates streams reference (spec.tls.secretRef) are watched, metadata only, so a renewal or a broken
  // Secret reaches status at once instead of at the next hourly look. kubernetes.io/tls is what cert-manager writes.
  const tlsSecrets = inf<SecretInfo>(WATCHES.tlsSecrets, {
    transform: (o) => ({
      metadata: { name: o.metadata.name, namespace: o.metadata.namespace, resourceVersion: o.metadata.resourceVersion },
      keys: [],
    }),
  });
  const informers = [...(Object.values(caches) as unknown as Informer[]), tlsSecrets as unknown as Informer];
  recordingsClaimInfo(registry, () => caches.pvcs.list());
  registerConditionMetrics(registry, () => caches.streams.list() as LiveStream[]);

  const queue = new WorkQueue({
    name: 'livestream',
    concurrency: opts.concurrency ?? 8,
    baseDelayMs: 500,
    maxDelayMs: 5 * 60_000,
    registry,
  });
  // Live state (publisher online, viewers) is polled on a queue of its own: spec changes never wait behind polls.
  const liveQueue = new WorkQueue({
    name: 'livestream-live',
    concurrency: opts.liveConcurrency ?? 4,
    baseDelayMs: 1000,
    maxDelayMs: 60_000,
    registry,
  });
  const keyOf = (o: { metadata: KubeObject['metadata'] }) => `${o.metadata.namespace}/${o.metadata.name}`;
  caches.streams.on((type, obj, old) => {
    // Status writes (ours) do not change generation: only spec, labels, annotations or deletion need a pass.
    if (
      type === 'update' &&
      old &&
      old.metadata.generation === obj.metadata.generation &&
      old.metadata.deletionTimestamp === obj.metadata.deletionTimestamp
    )
      return;
    if (type !== 'delete') queue.add(keyOf(obj));
  });
  tlsSecrets.on((_type, secret) => {
    for (const ls of caches.streams.list())
      if (
        ls.metadata.namespace === secret.metadata.namespace &&
        (ls as LiveStream).spec?.tls?.secretRef?.name === secret.metadata.name
      )
        queue.addAfter(keyOf(ls), CHILD_EVENT_DELAY_MS);
  });

  const locate: ApiLocator | undefined =
    opts.probe === 'off' ? undefined : typeof opts.probe === 'function' ? opts.probe : inClusterLocator;
  const reconciler = new Reconciler(kube, caches, new EventRecorder(kube, log, identity), log, {
    sidecarImage: opts.sidecarImage,
    ...(opts.imagePullSecrets?.length ? { imagePullSecrets: opts.imagePullSecrets } : {}),
    ...(opts.mediamtxImage ? { mediamtxImage: opts.mediamtxImage } : {}),
    ...(opts.ffmpegImage ? { ffmpegImage: opts.ffmpegImage } : {}),
    ...(locate ? { locateApi: locate, onRunning: (key: string) => liveQueue.ensure(key) } : {}),
    requeue: (key: string) => queue.add(key),
    ...(opts.nodeAddress ? { nodeAddress: opts.nodeAddress } : {}),
    ...(opts.liveResyncMs ? { liveResyncMs: opts.liveResyncMs } : {}),
    ...(opts.recordingLocator ? { locateRecording: opts.recordingLocator } : {}),
    ...(opts.webhookDelivery ? { webhookDelivery: opts.webhookDelivery } : {}),
    registry,
  });

  const children: [string, Informer][] = [
    ['ConfigMap', caches.configMaps],
    ['Deployment', caches.deployments],
    ['Service', caches.services],
    ['PersistentVolumeClaim', caches.pvcs],
    ['Secret', caches.ownedSecrets as unknown as Informer],
  ];
  for (const [kind, child] of children) {
    // Any change to a child (drift, deletion, status) re-runs its stream, except the echo of our own write.
    // A burst of child events (status updates after a rollout) collapses into one pass a moment later.
    child.on((type, obj) => {
      const stream = obj.metadata.labels?.[STREAM_LABEL];
      if (!stream || !obj.metadata.namespace) return;
      if (type !== 'delete' && reconciler.isOwnEcho(kind, obj)) return;
      queue.addAfter(`${obj.metadata.namespace}/${stream}`, CHILD_EVENT_DELAY_MS);
    });
  }

  let workersRunning = false;
  const startWorkers = () => {
    if (workersRunning) return;
    workersRunning = true;
    m.leader.set({ name: 'vstream-controller' }, 1);
    reconciler.setLeader(true);
    for (const ls of caches.streams.list()) queue.add(keyOf(ls));
    queue.run(async (key) => {
      if (!workersRunning) return undefined;
      const end = m.time.startTimer({ controller: 'livestream' });
      m.active.inc({ controller: 'livestream' });
      try {
        const r = await reconciler.reconcile(key);
        m.total.inc({
          controller: 'livestream',
          result: r?.requeueAfterMs !== undefined ? 'requeue_after' : 'success',
        });
        return r;
      } catch (e) {
        m.total.inc({ controller: 'livestream', result: 'error' });
        m.errors.inc({ controller: 'livestream' });
        log.warn({ key, error: (e as Error).message, retries: queue.retriesOf(key) }, 'reconcile failed');
        throw e;
      } finally {
        m.active.dec({ controller: 'livestream' });
        end();
      }
    });
    liveQueue.run(async (key) => (workersRunning ? reconciler.pollLive(key) : undefined));
  };
  const stopWorkers = () => {
    workersRunning = false;
    m.leader.set({ name: 'vstream-controller' }, 0);
    reconciler.setLeader(false);
  };

  const phaseTimer = setInterval(() => {
    const counts: Record<string, number> = { Pending: 0, Ready: 0, Live: 0, Degraded: 0, Failed: 0 };
    for (const ls of caches.streams.list() as LiveStream[])
      counts[ls.status?.phase ?? 'Pending'] = (counts[ls.status?.phase ?? 'Pending'] ?? 0) + 1;
    for (const [phase, n] of Object.entries(counts)) m.phases.set({ phase }, n);
  }, 5_000);
  phaseTimer.unref();

  for (const i of informers) i.start();

  const watchdogMs = opts.watchdogMs ?? 10 * 60_000;
  let elector: LeaderElector | undefined;
  // Three read-only routes: plain node:http, because fastify alone would add ≈ 25 MB to the controller's RSS.
  const json = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const ops = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET') return json(res, 405, { status: 'method not allowed' });
    if (path === '/metrics') {
      void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
      return;
    }
    if (path === '/readyz') {
      const pending = informers.filter((x) => !x.synced).map((x) => x.name);
      return pending.length
        ? json(res, 503, { status: 'caches not synced', pending })
        : json(res, 200, { status: 'ready' });
    }
    if (path === '/livez') {
      const now = Date.now();
      const stale = informers.filter((x) => x.synced && now - x.lastSuccess > watchdogMs).length;
      const leaseStale = Boolean(elector?.check());
      return stale || leaseStale
        ? json(res, 503, { status: 'unhealthy', staleInformers: stale, leaseStale })
        : json(res, 200, { status: 'ok' });
    }
    json(res, 404, { status: 'not found' });
  });
  const { host, port } = splitHostPort(opts.metricsAddr ?? '0.0.0.0:8080');
  await new Promise<void>((resolve, reject) => {
    ops.once('error', reject);
    ops.listen(port, host, resolve);
  });
  const bound = ops.address() as AddressInfo;
  const opsAddr = `http://${bound.address}:${bound.port}`;
  log.info(
    { ops: opsAddr, identity, leaderElect: opts.leaderElect ?? false, namespaces: watched.length ? watched : 'all' },
    'controller starting',
  );

  const crdCheck = startCrdVersionCheck(kube, log, registry, { instance: identity, intervalMs: opts.crdCheckMs });
  await Promise.all(informers.map((x) => x.waitForSync()));
  log.info('caches synced');
  if (opts.leaderElect) {
    elector = new LeaderElector(
      kube,
      { namespace: opts.leaseNamespace ?? 'default', name: 'vstream-controller', identity },
      log,
    );
    void elector.run(startWorkers, stopWorkers);
  } else startWorkers();

  const shutdown = async () => {
    log.info('shutting down: finishing in-flight reconciles');
    // Webhook attempts in flight finish and their outcomes reach status before the Lease is let go.
    if (workersRunning) await reconciler.webhooks.handover();
    stopWorkers();
    await Promise.all([queue.shutdown(), liveQueue.shutdown()]);
    await elector?.release();
    for (const x of informers) x.stop();
    crdCheck.stop();
    clearInterval(phaseTimer);
    await new Promise((r) => ops.close(r));
    log.info('stopped');
  };
  return {
    kube,
    caches,
    queue,
    liveQueue,
    reconciler,
    registry,
    shutdown,
    opsAddr,
    isLeader: () => (elector ? elector.isLeader : true),
  };
}
