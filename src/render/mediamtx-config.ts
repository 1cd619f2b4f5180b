// spec -> mediamtx.yml (for MEDIAMTX_VERSION) and the sidecar's auth.json. Pure, and never given a secret:
// secrets reach the pod only as mounted files the sidecar reads.
import { stringify } from 'yaml';
import { MEDIAMTX_VERSION, type ResolvedSpec } from '../api/livestream.ts';
import type { AuthConfig } from '../auth/contract.ts';
import { parseQuantity } from '../controller/quantity.ts';
import { unknownKeys } from '../mediamtx/keys.ts';
import {
  AUTH_HOOK_PORT,
  enabledServers,
  MEDIAMTX_API_PORT,
  MEDIAMTX_METRICS_PORT,
  PLAYBACK_PORT,
  PROTOCOL_PORTS,
  plainListener,
  TLS_PORTS,
} from './ports.ts';

export const CONFIG_DIR = '/config';
export const RECORDINGS_DIR = '/recordings';
export const SECRETS_DIR = '/var/run/vstream';

export const secretFiles = {
  publish: `${SECRETS_DIR}/publish`,
  jwt: `${SECRETS_DIR}/jwt`,
  internal: `${SECRETS_DIR}/internal`,
  /** spec.tls.secretRef (kubernetes.io/tls), mounted into the MediaMTX container only. */
  tls: `${SECRETS_DIR}/tls`,
  /** spec.restream[].secretRef, one projected volume in the auth container: <dir>/<Secret name>/<key>. */
  restream: `${SECRETS_DIR}/restream`,
};

/** Where a restream target's key is in the auth container. */
export const restreamKeyFile = (ref: { name: string; key?: string }) =>
  `${secretFiles.restream}/${ref.name}/${ref.key ?? 'streamKey'}`;

/**
 * Global keys a spec edit changes that are applied by MediaMTX's file reload instead of a new pod: faster than a
 * roll. The reload still restarts servers (logLevel restarts all of them): see src/mediamtx/reload.ts, and the
 * controller's rule that a change which would drop connected sessions waits until nobody is connected.
 */
export const RELOADED_GLOBAL_KEYS = [
  'logLevel',
  'hlsAllowOrigins',
  'webrtcAllowOrigins',
  // Restarts the playback listener only (downloads in flight are HTTP requests a player retries).
  'playbackAllowOrigins',
  // The reachable address appears after the pod does (a load balancer gets its address): a WebRTC server restart,
  // never a new pod.
  'webrtcAdditionalHosts',
  'webrtcIPsFromInterfaces',
] as const;

/** What the config takes from where the stream is reached (src/render/endpoints.ts). */
export interface EdgeConfig {
  /** The externally reachable host WebRTC advertises as its ICE candidate; pod IPs are advertised without one. */
  iceHost?: string;
  /** Node ports the ICE listeners use on a NodePort Service (a candidate carries the port MediaMTX listens on). */
  ice?: { udp?: number; tcp?: number };
}

const ICE_PORT = PROTOCOL_PORTS.webrtc[1].port;

/** True when the stream has the thumbnail containers (src/render/media.ts). */
const thumbnailsOn = (spec: ResolvedSpec) => Boolean(spec.thumbnails?.enabled);

export function mediamtxConfig(spec: ResolvedSpec, edge: EdgeConfig = {}): Record<string, unknown> {
  const on = enabledServers(spec);
  const rec = spec.recording;
  const config: Record<string, unknown> = {
    logLevel: spec.mediamtx.logLevel,
    logDestinations: ['stdout'],
    logStructured: true,
    readTimeout: '10s',
    writeTimeout: '10s',
    // Every publish/read/api/metrics attempt is decided by the sidecar on loopback. The exclude list is explicit
    // because its default changed in 1.20.1 (it used to leave api and metrics unauthenticated).
    authMethod: 'http',
    authHTTPAddress: `http://127.0.0.1:${AUTH_HOOK_PORT}/auth`,
    authHTTPExclude: [],
    api: true,
    apiAddress: `:${MEDIAMTX_API_PORT}`,
    metrics: true,
    metricsAddress: `:${MEDIAMTX_METRICS_PORT}`,
    pprof: false,
    // The recordings playback server (/list, /get), behind the same auth hook (action playback) as live playback.
    playback: rec.enabled,
    ...(rec.enabled
      ? { playbackAddress: `:${PLAYBACK_PORT.port}`, playbackAllowOrigins: spec.playback.allowedOrigins }
      : {}),
    rtsp: on.has('rtsp'),
    // UDP transport cannot cross a Service's NAT; TCP interleaved always can.
    rtspTransports: ['tcp'],
    // With spec.tls the encryption keys come from the pod's environment (tlsConfig): not stated here twice.
    ...(spec.tls ? {} : { rtspEncryption: 'no' }),
    rtspAddress: ':8554',
    rtspAuthMethods: ['basic'],
    // The media container (thumbnails) reads the stream over RTMP on loopback: without rtmp ingest the RTMP server
    // still runs, on loopback only (no Service port leads to it).
    rtmp: on.has('rtmp') || thumbnailsOn(spec),
    ...(spec.tls ? {} : { rtmpEncryption: 'no' }),
    rtmpAddress: !on.has('rtmp') && thumbnailsOn(spec) ? '127.0.0.1:1935' : ':1935',
    hls: on.has('hls'),
    hlsAddress: ':8888',
    hlsAllowOrigins: spec.playback.allowedOrigins,
    hlsVariant: 'lowLatency',
    // Latency as a viewer feels it, measured per frame by `npm run bench:latency` (bench/README.md). A low-latency
    // player holds PART-HOLD-BACK (2.5 part targets) behind the newest part, so the part length sets its delay:
    // at 30 fps, 100 ms asks for parts of 4 frames (134 ms, a hold-back of 335 ms) where the 200 ms default gave
    // 6 frames (200 ms, 500 ms), and every frame still arrived within the hold-back in the benchmark.
    // The price is request rate (a blocking playlist reload and a part per part, per viewer), not auth: MediaMTX
    // asks the sidecar once per HLS session, not per request. Segments stay at MediaMTX's 1 s floor (cut at
    // keyframes: with the 1 s GOP docs/streamers.md asks for, plain-HLS players sit 3 s behind), and 7 of them,
    // the fewest MediaMTX accepts for Low-Latency HLS. Stated, not defaulted, so an upstream default change
    // cannot move them.
    hlsPartDuration: '100ms',
    hlsSegmentDuration: '1s',
    hlsSegmentCount: 7,
    webrtc: on.has('webrtc'),
    webrtcAddress: ':8889',
    webrtcAllowOrigins: spec.playback.allowedOrigins,
    // ICE on one fixed UDP port and one fixed TCP port, both on the Service. Candidates advertise the reachable
    // host when there is one (pod IPs mean nothing outside the cluster), the pod's own addresses otherwise.
    // (Streams without WebRTC keep MediaMTX's defaults, so nothing about them changes when their address does.)
    webrtcLocalUDPAddress: `:${edge.ice?.udp ?? ICE_PORT}`,
    webrtcLocalTCPAddress: on.has('webrtc') ? `:${edge.ice?.tcp ?? ICE_PORT}` : '',
    webrtcIPsFromInterfaces: !(on.has('webrtc') && edge.iceHost),
    webrtcAdditionalHosts: on.has('webrtc') && edge.iceHost ? [edge.iceHost] : [],
    srt: on.has('srt'),
    srtAddress: ':8890',
    // MoQ writes a self-signed cert to the working directory and is not offered by the API.
    moq: false,
    paths: {
      // An explicit (non-regexp) path: it exists from startup, so its metrics appear before a publisher does,
      // and every other path is refused before MediaMTX even asks the sidecar.
      [spec.path]: {
        source: 'publisher',
        // A newcomer the hook allows replaces the publisher on air at once: a streamer reconnecting after a
        // network blip is back in well under a second instead of being refused until its old session times out.
        // The sidecar allows that only to the token on air (auth.json publish.override), so nobody else can.
        overridePublisher: true,
        record: rec.enabled,
        recordPath: `${RECORDINGS_DIR}/%path/%Y-%m-%d_%H-%M-%S-%f`,
        recordFormat: rec.format,
        recordSegmentDuration: rec.segmentDuration,
        // Retention is the sidecar's (src/recording/): by age and size, leftovers and empty directories included,
        // never the segment being written. MediaMTX's own cleaner would race it, so it is off.
        recordDeleteAfter: '0s',
        ...(spec.ingest.offlineSlate ? slateConfig(spec.ingest.offlineSlate) : {}),
      },
    },
  };
  const bad = unknownKeys({ ...config, ...tlsConfig(spec) }, MEDIAMTX_VERSION);
  if (bad.length) throw new Error(`renderer emitted keys MediaMTX ${MEDIAMTX_VERSION} rejects: ${bad.join(', ')}`);
  return config;
}

/** spec.ingest.offlineSlate as MediaMTX's always-available path settings (its built-in black, silent slate). */
export function slateConfig(slate: NonNullable<ResolvedSpec['ingest']['offlineSlate']>): Record<string, unknown> {
  const a = slate.audio;
  return {
    alwaysAvailable: true,
    alwaysAvailableTracks: [
      { codec: slate.video ?? 'H264' },
      ...(a.codec === 'AAC' ? [{ codec: 'MPEG4Audio', sampleRate: a.sampleRate, channelCount: a.channels }] : []),
      ...(a.codec === 'Opus' ? [{ codec: 'Opus' }] : []),
    ],
  };
}

/**
 * The TLS settings (spec.tls). They name files from the pod's certificate volume, so they travel with that volume
 * in the pod template, as MediaMTX's MTX_* environment, not in the shared ConfigMap: a pod that predates spec.tls
 * (still running while its replacement starts) would otherwise reload a config naming files it does not have,
 * and MediaMTX exits when a reload fails. Certificate renewals need neither: MediaMTX 1.20.1 reloads the files
 * when kubelet swaps them (internal/certloader).
 */
export function tlsConfig(spec: ResolvedSpec): Record<string, string> {
  if (!spec.tls) return {};
  const on = enabledServers(spec);
  const cert = `${secretFiles.tls}/tls.crt`;
  const key = `${secretFiles.tls}/tls.key`;
  const encryption = (p: 'rtmp' | 'rtsp') => (plainListener(spec, p) ? 'optional' : 'strict');
  return {
    ...(on.has('rtmp')
      ? {
          rtmpEncryption: encryption('rtmp'),
          rtmpsAddress: `:${TLS_PORTS.rtmp.port}`,
          rtmpServerKey: key,
          rtmpServerCert: cert,
        }
      : {}),
    ...(on.has('rtsp')
      ? {
          rtspEncryption: encryption('rtsp'),
          rtspsAddress: `:${TLS_PORTS.rtsp.port}`,
          rtspServerKey: key,
          rtspServerCert: cert,
        }
      : {}),
    ...(on.has('hls') ? { hlsEncryption: 'true', hlsServerKey: key, hlsServerCert: cert } : {}),
    ...(on.has('webrtc') ? { webrtcEncryption: 'true', webrtcServerKey: key, webrtcServerCert: cert } : {}),
    ...(spec.recording.enabled ? { playbackEncryption: 'true', playbackServerKey: key, playbackServerCert: cert } : {}),
  };
}

/** MediaMTX's environment override of a global key: MTX_ and the key in upper case. */
export const envName = (key: string) => `MTX_${key.toUpperCase()}`;

/** The part of the config whose change rolls the pod: everything but paths and the keys applied by reload. */
export function restartRelevantConfig(config: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...config };
  delete copy.paths;
  for (const k of RELOADED_GLOBAL_KEYS) delete copy[k];
  return copy;
}

// MediaMTX parses YAML 1.1, where a bare `no` is a boolean: render with 1.1 quoting rules and no anchors.
const YAML_OPTIONS = { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false } as const;

export function mediamtxYaml(config: Record<string, unknown>, tls = false): string {
  const note = tls
    ? "# TLS (the *Encryption, *ServerKey/Cert and rtmps/rtspsAddress keys) is set by the pod's MTX_* environment,\n# next to the certificate volume it names.\n"
    : '';
  return `# Rendered by vstream for MediaMTX ${MEDIAMTX_VERSION}. Edits are overwritten.\n${note}${stringify(config, YAML_OPTIONS)}`;
}

/** What the auth sidecar enforces (its auth.json): the schema and type the sidecar validates it with. */
export type { AuthConfig } from '../auth/contract.ts';

/** File paths only: the sidecar reads (and watches) the secrets themselves. */
export function authConfig(spec: ResolvedSpec, publishKey: string): AuthConfig {
  const jwt = spec.playback.jwt;
  return {
    path: spec.path,
    publish: {
      tokenFile: `${secretFiles.publish}/${publishKey}`,
      override: 'sameToken',
      // Only when they restrict: the auth.json of a stream that uses neither stays byte-identical.
      ...(spec.enabled === false ? { enabled: false } : {}),
      ...(spec.ingest.maxDuration ? { maxDurationSeconds: durationSeconds(spec.ingest.maxDuration) } : {}),
    },
    read: {
      access: spec.playback.access,
      ...(spec.playback.access === 'jwt' && jwt
        ? {
            jwt: {
              issuer: jwt.issuer,
              audience: jwt.audience ?? 'vstream',
              ...(jwt.algorithms?.length ? { algorithms: jwt.algorithms } : {}),
              clockSkewSeconds: durationSeconds(jwt.clockSkew ?? '30s'),
              ...(jwt.keysSecretRef ? { keysFile: `${secretFiles.jwt}/${jwt.keysSecretRef.key ?? 'jwks.json'}` } : {}),
              ...(jwt.jwksURL ? { jwksURL: jwt.jwksURL } : {}),
            },
          }
        : {}),
    },
    api: { tokenFile: `${secretFiles.internal}/api-token` },
    // Metrics carry no secrets and are served only on the ClusterIP metrics Service; Prometheus sends no credential.
    metrics: { allow: true },
    ...(spec.recording.enabled ? { recording: recordingConfig(spec) } : {}),
    ...(thumbnailsOn(spec) ? { media: { dir: '/var/run/vstream/media/', thumbnails: true } } : {}),
    ...(spec.restream?.length
      ? {
          restream: spec.restream.map((t) => ({
            name: t.name,
            url: t.url,
            keyFile: restreamKeyFile(t.secretRef),
            secret: `${t.secretRef.name}/${t.secretRef.key ?? 'streamKey'}`,
          })),
        }
      : {}),
  };
}

/** Bytes of a quantity (rounded down); undefined for anything that is not one. */
export function quantityBytes(q: string | number): number | undefined {
  const x = parseQuantity(q);
  return x ? Number(x.num / 10n ** BigInt(x.scale)) : undefined;
}

/**
 * Free space below which recording pauses: 5% of the requested volume, at least 1 MiB and at most 256 MiB, which
 * is well above what even a fast stream writes between two retention passes (5 s).
 */
export function reserveBytes(size: string | number): number {
  const bytes = quantityBytes(size) ?? 0;
  return Math.min(256 * 2 ** 20, Math.max(2 ** 20, Math.floor(bytes * 0.05)));
}

function recordingConfig(spec: ResolvedSpec): NonNullable<AuthConfig['recording']> {
  const rec = spec.recording;
  const max = rec.maxSize === undefined ? undefined : String(rec.maxSize);
  return {
    // With the trailing slash, like every other mount path in the files the pod reads (dev/pod-runner.ts relies on it).
    dir: `${RECORDINGS_DIR}/`,
    retentionSeconds: durationSeconds(rec.retention),
    ...(max?.endsWith('%') ? { maxPercent: Number(max.slice(0, -1)) } : {}),
    ...(max !== undefined && !max.endsWith('%') ? { maxBytes: quantityBytes(max) ?? 0 } : {}),
    reserveBytes: reserveBytes(rec.storage.size),
  };
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
export function durationSeconds(d: string): number {
  let total = 0;
  for (const m of d.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  return total;
}
