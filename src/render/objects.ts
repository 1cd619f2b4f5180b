// spec + resolved inputs -> the Kubernetes objects one LiveStream owns. Pure: no I/O, no clock, no randomness.
import { createHash } from 'node:crypto';
import {
  API_VERSION,
  DEFAULT_MEDIAMTX_IMAGE,
  KIND,
  type LiveStream,
  type ResolvedSpec,
  resolveSpec,
} from '../api/livestream.ts';
import { iceNodePorts, type ObservedService, type Reach, reach } from './endpoints.ts';
import { MEDIA_CONFIG_FILE, MEDIA_DIR, mediaConfig, mediaContainers, mediaNeeded, mediaVolumes } from './media.ts';
import {
  type AuthConfig,
  authConfig,
  CONFIG_DIR,
  envName,
  mediamtxConfig,
  mediamtxYaml,
  RECORDINGS_DIR,
  restartRelevantConfig,
  secretFiles,
  tlsConfig,
} from './mediamtx-config.ts';
import { commonLabels, names, selectorLabels } from './names.ts';
import { AUTH_METRICS_PORT, metricsPorts, type PortSpec, publicPorts, THUMBNAIL_PORT } from './ports.ts';

export interface RenderOptions {
  /** Image of the auth sidecar (the operator's own image: it runs `vstream auth`). */
  sidecarImage: string;
  /** The stream's Service as the API server has it: node ports and the load balancer's address feed the render. */
  service?: ObservedService;
  /** Where NodePort streams are reached (the controller's --node-address). */
  nodeAddress?: string;
  /** Image pull secrets (names) for the stream pod; they must exist in the stream's namespace. */
  imagePullSecrets?: string[];
  /** MediaMTX image for streams that do not name one (the controller's --mediamtx-image). */
  mediamtxImage?: string;
  /** Image with ffmpeg for the thumbnail container (the controller's --ffmpeg-image). */
  ffmpegImage?: string;
}

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

export interface RenderedStream {
  spec: ResolvedSpec;
  /** The MediaMTX configuration the ConfigMap carries, as an object. */
  config: Record<string, unknown>;
  configMap: K8sObject;
  deployment: K8sObject;
  service: K8sObject;
  metricsService: K8sObject;
  /** Present when recording is enabled. Never deleted by the controller; reclaimPolicy decides its owner reference. */
  recordings?: K8sObject;
  /** Where the sidecar reads the publish token from (the user's Secret or the generated one). */
  publishSecret: { name: string; key: string; generated: boolean };
  auth: AuthConfig;
  /** Where clients reach the stream from, as the render used it. */
  reach: Reach;
}

export const RESTART_HASH_ANNOTATION = 'vstream.io/restart-hash';
/** On the Deployment: a hash of its pod template, so a change that would roll the pod is seen before it is applied. */
export const TEMPLATE_HASH_ANNOTATION = 'vstream.io/template-hash';
export const CONFIG_FILE = 'mediamtx.yml';
export const AUTH_FILE = 'auth.json';
const UID = 65532;

export function ownerReference(ls: LiveStream) {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: ls.metadata.name,
    uid: ls.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function contentHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

function meta(ls: LiveStream, name: string, owned = true) {
  return {
    name,
    namespace: ls.metadata.namespace,
    labels: commonLabels(ls.metadata.name),
    ...(owned ? { ownerReferences: [ownerReference(ls)] } : {}),
  };
}

const containerPorts = (ports: PortSpec[]) =>
  ports.map((p) => ({ name: p.name, containerPort: p.containerPort ?? p.port, protocol: p.protocol }));
const restricted = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** Quantities as the strings a container spec takes (the API accepts `cpu: 1` as Kubernetes does). */
function quantities(r?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> }) {
  if (!r) return undefined;
  const str = (m?: Record<string, string | number>) =>
    m ? Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)])) : undefined;
  return {
    ...(r.requests ? { requests: str(r.requests) } : {}),
    ...(r.limits ? { limits: str(r.limits) } : {}),
  };
}

/** The vstream image's entrypoint, as scripts/image-rootfs.ts builds it (test/unit/sidecar-resources.test.ts). */
export const NODE_BIN = '/usr/local/bin/node';
export const CLI_SCRIPT = '/app/src/cli.js';
/**
 * The sidecar's V8 heap, sized from bench/stream-cost.ts (bench/results/stream-cost.json):
 * - a 1 MiB semi-space: the young generation otherwise grows to 3 x 16 MiB of mostly empty pages that stay
 *   resident; measured idle ~10 MiB less. Hook latency at 2 000 decisions/s stays at the bare route's (p99 2.4 ms,
 *   bench/auth.ts --node-flags); at saturation over keep-alive it measured ~15 % fewer JWT decisions/s (noisy);
 * - a 64 MiB old space: the live heap is ~10 MiB idle and stays under ~20 MiB at 10 000 cached viewers; without a
 *   cap V8 sizes the heap from the node's memory, not the container's, and lets garbage pile up under a request
 *   storm (a forged-token storm grew the sidecar past 450 MiB). With it the storm plateau stays under the limit.
 * Not --jitless/--lite-mode: they save ~14 MiB idle (96 -> 82), but every hook decision's JavaScript is then
 * interpreted: bench/auth.ts --node-flags measured a third of the publish decisions/s and under half of the new-viewer
 * ones (bench/README.md).
 */
export const SIDECAR_NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=64'];
/** The media container's heap (thumbnail keyframes: one RTMP reader): the sidecar's young generation, a small old space. */
export const MEDIA_NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=48'];
/**
 * Requests from the measured idle/100-viewer resident size (~90-100 MiB, of which ~50 MiB are the node binary's
 * pages) and the CPU of 100 viewers; the limit above the storm plateau with the heap capped (SIDECAR_NODE_FLAGS).
 */
export const SIDECAR_RESOURCES = {
  requests: { cpu: '50m', memory: '112Mi' },
  limits: { memory: '192Mi' },
};

export function renderStream(ls: LiveStream, opts: RenderOptions): RenderedStream {
  const name = ls.metadata.name;
  const n = names(name);
  const spec = resolveSpec(name, ls.spec);
  const userRef = spec.ingest.publishTokenSecretRef;
  const publishSecret = userRef
    ? { name: userRef.name, key: userRef.key ?? 'token', generated: false }
    : { name: n.publishSecret, key: 'token', generated: true };
  const where = reach({ name, namespace: ls.metadata.namespace }, spec, opts.service, opts.nodeAddress);
  const ice = iceNodePorts(spec, opts.service);
  const config = mediamtxConfig(spec, { ...(where.iceHost ? { iceHost: where.iceHost } : {}), ice });
  const tls = tlsConfig(spec);
  const auth = authConfig(spec, publishSecret.key);
  const ports = publicPorts(spec, ice);
  const media = mediaNeeded(spec);

  const configMap: K8sObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(ls, n.configMap),
    data: {
      [CONFIG_FILE]: mediamtxYaml(config, Boolean(spec.tls)),
      [AUTH_FILE]: `${JSON.stringify(auth, null, 2)}\n`,
      // Paths and the interval only: the media container reads the internal token from its Secret file.
      ...(media ? { [MEDIA_CONFIG_FILE]: `${JSON.stringify(mediaConfig(spec), null, 2)}\n` } : {}),
    },
  };

  const jwtRef = spec.playback.access === 'jwt' ? spec.playback.jwt?.keysSecretRef : undefined;
  // Each restream Secret once, whole (any key of it can be named later without touching the pod), in name order:
  // the pod template changes only when the set of Secrets does.
  const restreamSecrets = [...new Set((spec.restream ?? []).map((t) => t.secretRef.name))].sort();
  const secretVolume = (volName: string, secretName: string, key: string) => ({
    name: volName,
    secret: { secretName, items: [{ key, path: key }], defaultMode: 0o440 },
  });
  const volumes: unknown[] = [
    // A directory mount, never subPath: kubelet swaps the ..data symlink and MediaMTX hot-reloads the file.
    { name: 'config', configMap: { name: n.configMap } },
    { name: 'work', emptyDir: { sizeLimit: '64Mi' } },
    secretVolume('publish-token', publishSecret.name, publishSecret.key),
    secretVolume('internal', n.internalSecret, 'api-token'),
    ...(jwtRef ? [secretVolume('jwt-keys', jwtRef.name, jwtRef.key ?? 'jwks.json')] : []),
    ...(spec.tls
      ? [
          {
            name: 'tls',
            secret: {
              secretName: spec.tls.secretRef.name,
              items: [
                { key: 'tls.crt', path: 'tls.crt' },
                { key: 'tls.key', path: 'tls.key' },
              ],
              defaultMode: 0o440,
            },
          },
        ]
      : []),
    ...(spec.recording.enabled ? [{ name: 'recordings', persistentVolumeClaim: { claimName: n.recordings } }] : []),
    ...(media ? mediaVolumes() : []),
    // optional: a missing Secret stops the targets that name it (status.restream says so), not the stream.
    ...restreamSecrets.map((secretName, i) => ({
      name: `restream-${i}`,
      secret: { secretName, optional: true, defaultMode: 0o440 },
    })),
  ];

  const probePort = ports.find((p) => p.protocol === 'TCP')?.name ?? 'metrics';
  const mediamtx = {
    name: 'mediamtx',
    image: spec.mediamtx.image ?? opts.mediamtxImage ?? DEFAULT_MEDIAMTX_IMAGE,
    args: [`${CONFIG_DIR}/${CONFIG_FILE}`],
    workingDir: '/work',
    ...(spec.tls ? { env: Object.entries(tls).map(([k, value]) => ({ name: envName(k), value })) } : {}),
    ports: containerPorts([
      ...ports.filter((p) => p.name !== THUMBNAIL_PORT.name),
      ...metricsPorts.filter((p) => p.port !== AUTH_METRICS_PORT),
    ]),
    // MediaMTX sends every HTTP request, probes included, through the auth hook; a TCP probe needs no credential.
    // Ready as soon as it listens: the Service sends a streamer here only once both containers are ready, so a
    // probe period is time a streamer waits (measured on a real node: apply -> ingest).
    startupProbe: { tcpSocket: { port: probePort }, periodSeconds: 1, failureThreshold: 60 },
    readinessProbe: { tcpSocket: { port: probePort }, periodSeconds: 2 },
    livenessProbe: { tcpSocket: { port: probePort }, periodSeconds: 10, failureThreshold: 6 },
    resources: quantities(spec.mediamtx.resources) ?? { requests: { cpu: '100m', memory: '64Mi' } },
    securityContext: restricted,
    volumeMounts: [
      { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
      { name: 'work', mountPath: '/work' },
      ...(spec.recording.enabled ? [{ name: 'recordings', mountPath: RECORDINGS_DIR }] : []),
      ...(spec.tls ? [{ name: 'tls', mountPath: secretFiles.tls, readOnly: true }] : []),
    ],
  };
  // A native sidecar (an init container with restartPolicy Always; the chart requires Kubernetes >= 1.30, where
  // SidecarContainers is on by default): kubelet starts MediaMTX only after this container's startup probe passes,
  // restarts it on its own if it dies, and stops it after MediaMTX. MediaMTX 1.20.1 counts a hook that does not
  // answer as a failed authentication (internal/auth/manager.go authenticateHTTP) and RTMP then answers
  // NetStream.Publish.Unauthorized, after which OBS stops retrying: MediaMTX must never take connections before the
  // hook answers, as it could when both were regular containers started side by side.
  const sidecar = {
    name: 'auth',
    image: opts.sidecarImage,
    restartPolicy: 'Always',
    // The image's entrypoint (scripts/image-rootfs.ts) with the sidecar's V8 heap flags in front of the script.
    command: [NODE_BIN, ...SIDECAR_NODE_FLAGS, CLI_SCRIPT],
    args: ['auth', '--config', `${CONFIG_DIR}/${AUTH_FILE}`],
    ports: containerPorts([
      { name: 'auth-metrics', port: AUTH_METRICS_PORT, protocol: 'TCP' },
      ...(media ? [THUMBNAIL_PORT] : []),
    ]),
    // Node starts in well under a second; without a startup probe the first readiness probe races it and a lost
    // race cost a full period (seen on the real node as "connection refused" Warning events).
    // /startz (the hook can decide) gates MediaMTX's start; /readyz also waits for what needs MediaMTX running.
    startupProbe: { httpGet: { path: '/startz', port: 'auth-metrics' }, periodSeconds: 1, failureThreshold: 30 },
    readinessProbe: { httpGet: { path: '/readyz', port: 'auth-metrics' }, periodSeconds: 2 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'auth-metrics' }, periodSeconds: 10, failureThreshold: 6 },
    resources: SIDECAR_RESOURCES,
    securityContext: restricted,
    volumeMounts: [
      { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
      { name: 'publish-token', mountPath: secretFiles.publish, readOnly: true },
      { name: 'internal', mountPath: secretFiles.internal, readOnly: true },
      ...(jwtRef ? [{ name: 'jwt-keys', mountPath: secretFiles.jwt, readOnly: true }] : []),
      // Retention (src/recording/) runs in this container: it deletes old segments and watches free space.
      ...(spec.recording.enabled ? [{ name: 'recordings', mountPath: RECORDINGS_DIR }] : []),
      ...restreamSecrets.map((secretName, i) => ({
        name: `restream-${i}`,
        mountPath: `${secretFiles.restream}/${secretName}`,
        readOnly: true,
      })),
      // The thumbnail the media containers leave (src/render/media.ts), served behind the playback access rule.
      ...(media ? [{ name: 'media', mountPath: MEDIA_DIR, readOnly: true }] : []),
    ],
  };

  const template = {
    metadata: {
      labels: commonLabels(name),
      annotations: { [RESTART_HASH_ANNOTATION]: contentHash(restartRelevantConfig(config)) },
    },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: UID,
        runAsGroup: UID,
        fsGroup: UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      terminationGracePeriodSeconds: 30,
      ...(opts.imagePullSecrets?.length ? { imagePullSecrets: opts.imagePullSecrets.map((name) => ({ name })) } : {}),
      initContainers: [sidecar],
      containers: [
        mediamtx,
        ...(media
          ? mediaContainers({
              image: opts.sidecarImage,
              ...(opts.ffmpegImage ? { ffmpegImage: opts.ffmpegImage } : {}),
              command: [NODE_BIN, ...MEDIA_NODE_FLAGS, CLI_SCRIPT],
              securityContext: restricted,
              configDir: CONFIG_DIR,
            })
          : []),
      ],
      volumes,
    },
  };
  const deployment: K8sObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { ...meta(ls, n.deployment), annotations: { [TEMPLATE_HASH_ANNOTATION]: contentHash(template) } },
    spec: {
      replicas: 1,
      revisionHistoryLimit: 3,
      selector: { matchLabels: selectorLabels(name) },
      // A ReadWriteOnce recordings volume cannot be attached to two pods at once.
      strategy: spec.recording.enabled
        ? { type: 'Recreate' }
        : { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template,
    },
  };

  const servicePorts = (ps: PortSpec[]) =>
    ps.map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: p.protocol }));
  const svc = spec.service;
  const external = svc.type !== 'ClusterIP';
  const service: K8sObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { ...meta(ls, n.service), ...(svc.annotations ? { annotations: svc.annotations } : {}) },
    spec: {
      type: svc.type,
      selector: selectorLabels(name),
      ports: servicePorts(ports),
      // HLS and WHEP sessions live in one pod; keep a viewer on the pod that holds its session.
      sessionAffinity: 'ClientIP',
      ...(svc.type === 'LoadBalancer' && svc.loadBalancerClass ? { loadBalancerClass: svc.loadBalancerClass } : {}),
      ...(external && svc.externalTrafficPolicy ? { externalTrafficPolicy: svc.externalTrafficPolicy } : {}),
    },
  };
  const metricsService: K8sObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(ls, n.metricsService),
    spec: { type: 'ClusterIP', selector: selectorLabels(name), ports: servicePorts(metricsPorts) },
  };

  const recordings: K8sObject | undefined = spec.recording.enabled
    ? {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        // Retain: no owner reference, so garbage collection never reaches the recordings.
        metadata: meta(ls, n.recordings, spec.recording.reclaimPolicy === 'Delete'),
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: String(spec.recording.storage.size) } },
          ...(spec.recording.storage.storageClassName
            ? { storageClassName: spec.recording.storage.storageClassName }
            : {}),
        },
      }
    : undefined;

  return {
    spec,
    config,
    configMap,
    deployment,
    service,
    metricsService,
    ...(recordings ? { recordings } : {}),
    publishSecret,
    auth,
    reach: where,
  };
}

const opaqueSecret = (ls: LiveStream, name: string, stringData: Record<string, string>): K8sObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: meta(ls, name),
  type: 'Opaque',
  stringData,
});

/** The generated publish-token Secret. The token comes from the caller (the controller's random source). */
export const publishSecretObject = (ls: LiveStream, token: string) =>
  opaqueSecret(ls, names(ls.metadata.name).publishSecret, { token });

/** The Secret holding the credential the controller uses for the MediaMTX control API. */
export const internalSecretObject = (ls: LiveStream, apiToken: string) =>
  opaqueSecret(ls, names(ls.metadata.name).internalSecret, { 'api-token': apiToken });

/** Children in apply order: config before the pods that mount it. */
export function childObjects(r: RenderedStream): K8sObject[] {
  return [r.configMap, ...(r.recordings ? [r.recordings] : []), r.service, r.metricsService, r.deployment];
}
