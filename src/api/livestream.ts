// The LiveStream API: the one source of truth. Types, the CRD's OpenAPI schema (crds/), the chart's CRD copy
// and docs/api.md are all generated from the schemas in this file (npm run gen).
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Duration, Quantity, SecretKeyRef, StringEnum, Struct, withRules } from './schema-helpers.ts';

export const GROUP = 'vstream.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'LiveStream';
export const PLURAL = 'livestreams';
export const SINGULAR = 'livestream';
export const SHORT_NAMES = ['ls', 'lstream'];

/** The MediaMTX release the renderers target (and the image the operator runs by default). */
export const MEDIAMTX_VERSION = '1.20.1';
export const DEFAULT_MEDIAMTX_IMAGE = `docker.io/bluenviron/mediamtx:${MEDIAMTX_VERSION}`;

export const INGEST_PROTOCOLS = ['rtmp', 'srt', 'rtsp', 'webrtc'] as const;
export const PLAYBACK_PROTOCOLS = ['hls', 'webrtc', 'rtsp', 'srt'] as const;
export type IngestProtocol = (typeof INGEST_PROTOCOLS)[number];
export type PlaybackProtocol = (typeof PLAYBACK_PROTOCOLS)[number];

/** Signature algorithms the auth sidecar verifies; `none` is not one of them, by construction. */
export const ASYMMETRIC_JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;
export const HMAC_JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const JWT_ALGORITHMS = [...ASYMMETRIC_JWT_ALGORITHMS, ...HMAC_JWT_ALGORITHMS] as const;

export const SLATE_VIDEO_CODECS = ['H264', 'H265', 'AV1', 'VP9'] as const;
export const SLATE_AUDIO_CODECS = ['AAC', 'Opus', 'None'] as const;

const OfflineSlate = withRules(
  Type.Object(
    {
      video: StringEnum(SLATE_VIDEO_CODECS, { description: 'The video codec the streamer sends.', default: 'H264' }),
      audio: Type.Object(
        {
          codec: StringEnum(SLATE_AUDIO_CODECS, {
            description: 'The audio codec the streamer sends (OBS and ffmpeg over RTMP: AAC), or None for video only.',
          }),
          sampleRate: Type.Optional(
            Type.Integer({
              description: 'AAC sample rate in Hz, exactly as the encoder sends it (OBS default: 48000).',
              minimum: 8000,
              maximum: 96000,
            }),
          ),
          channels: Type.Optional(
            Type.Integer({ description: 'AAC channel count (OBS default: 2).', minimum: 1, maximum: 8 }),
          ),
        },
        { description: 'The audio the streamer sends.', additionalProperties: false },
      ),
    },
    {
      description:
        'Keep viewers’ players running while the streamer is away (MediaMTX alwaysAvailable): between publishes the stream plays a black, silent slate instead of ending, so a network blip or an encoder restart does not throw every viewer out. MediaMTX then accepts only a publisher whose tracks are exactly these (codec, and for AAC the sample rate and channel count): a streamer with other settings is refused with "wants to publish ..., but stream expects ..." in the mediamtx container’s log. Set it to what the encoder sends.',
      additionalProperties: false,
    },
  ),
  [
    {
      rule: "self.audio.codec != 'AAC' || (has(self.audio.sampleRate) && has(self.audio.channels))",
      message:
        'spec.ingest.offlineSlate.audio needs sampleRate and channels for AAC: MediaMTX refuses a publisher whose AAC settings differ from the slate’s',
      fieldPath: '.audio',
    },
    {
      rule: "self.audio.codec == 'AAC' || (!has(self.audio.sampleRate) && !has(self.audio.channels))",
      message: 'spec.ingest.offlineSlate.audio.sampleRate and channels apply to AAC only',
      fieldPath: '.audio',
    },
  ],
);

const Ingest = withRules(
  Struct(
    {
      protocols: Type.Array(StringEnum(INGEST_PROTOCOLS, { description: 'An ingest protocol.' }), {
        description:
          'Protocols a streamer may publish with: rtmp (OBS, ffmpeg), srt, rtsp (TCP only), webrtc (WHIP). Each is served on its own Service port.',
        default: ['rtmp'],
        minItems: 1,
        maxItems: 4,
        'x-kubernetes-list-type': 'set',
      }),
      publishTokenSecretRef: SecretKeyRef(
        'Secret key holding the publish token(s), one per line; every listed token is accepted so a token can be rotated without cutting off a live streamer. When absent the operator generates the Secret <name>-publish once and never replaces it.',
        'token',
      ),
      // spec.enabled and spec.ingest.maxDuration (on/off and limits): enforced in the pod by the auth sidecar.
      offlineSlate: OfflineSlate,
      maxDuration: Duration({
        description:
          'Longest a publish session may last (Go/Kubernetes duration, e.g. 4h, 90m); at the limit the auth sidecar ends the session and the controller records an event (MaxDurationReached). The streamer may start a new session at once. Between 1s and 168h; unlimited when absent.',
      }),
    },
    { description: 'How streamers publish to this stream.', additionalProperties: false, default: {} },
  ),
  [
    {
      rule: "!has(self.maxDuration) || (duration(self.maxDuration) >= duration('1s') && duration(self.maxDuration) <= duration('168h'))",
      message: 'spec.ingest.maxDuration must be between 1s and 168h',
      fieldPath: '.maxDuration',
    },
  ],
);

const Jwt = withRules(
  Type.Object(
    {
      issuer: Type.String({
        description: 'Required "iss" claim of viewer tokens.',
        minLength: 1,
        maxLength: 512,
      }),
      audience: Type.Optional(
        Type.String({
          description: 'Required "aud" claim of viewer tokens. Defaults to "vstream".',
          default: 'vstream',
          minLength: 1,
          maxLength: 512,
        }),
      ),
      keysSecretRef: Type.Optional(
        SecretKeyRef(
          'Secret key holding the verification keys: a JWKS document ({"keys":[...]}) of public keys, or a raw HMAC secret of at least 32 bytes. Rotations are picked up without a restart.',
          'jwks.json',
        ),
      ),
      jwksURL: Type.Optional(
        Type.String({
          description:
            'HTTPS URL of a JWKS to verify viewer tokens with, fetched and cached by the auth sidecar. May be combined with keysSecretRef.',
          maxLength: 2048,
          pattern: '^https://[^\\s]+$',
        }),
      ),
      algorithms: Type.Optional(
        Type.Array(StringEnum(JWT_ALGORITHMS, { description: 'A JWS algorithm.' }), {
          description:
            'Signature algorithms accepted for viewer tokens. Defaults to the asymmetric algorithms of the keys given (HS* only for an HMAC secret); "none" is never accepted.',
          maxItems: 12,
          'x-kubernetes-list-type': 'set',
        }),
      ),
      clockSkew: Type.Optional(
        Duration({
          description: 'Clock skew tolerated when checking exp and nbf. Defaults to 30s; at most 5m.',
          default: '30s',
        }),
      ),
    },
    { description: 'Where viewer JWTs are verified from.', additionalProperties: false },
  ),
  [
    {
      rule: 'has(self.keysSecretRef) || has(self.jwksURL)',
      message: 'spec.playback.jwt needs keysSecretRef or jwksURL to verify viewer tokens',
    },
    {
      rule: "!has(self.clockSkew) || duration(self.clockSkew) <= duration('5m')",
      message: 'spec.playback.jwt.clockSkew must be at most 5m',
      fieldPath: '.clockSkew',
    },
  ],
);

const Playback = withRules(
  Struct(
    {
      protocols: Type.Array(StringEnum(PLAYBACK_PROTOCOLS, { description: 'A playback protocol.' }), {
        description: 'Protocols viewers may play with: hls (browsers, players), webrtc (WHEP), rtsp (TCP only), srt.',
        default: ['hls'],
        minItems: 1,
        maxItems: 4,
        'x-kubernetes-list-type': 'set',
      }),
      access: StringEnum(['public', 'jwt'], {
        description:
          'Who may watch: "public" lets anyone play; "jwt" requires a viewer token signed with spec.playback.jwt.',
        default: 'public',
      }),
      jwt: Jwt,
      allowedOrigins: Type.Array(
        Type.String({
          description: 'An origin such as https://www.example.com, or * for any.',
          maxLength: 512,
          pattern: '^(\\*|https?://[^/\\s]+)$',
        }),
        {
          description: 'Browser origins allowed to fetch HLS and WebRTC (CORS). Defaults to any origin.',
          default: ['*'],
          maxItems: 32,
          'x-kubernetes-list-type': 'set',
        },
      ),
    },
    { description: 'How viewers watch this stream.', additionalProperties: false, default: {} },
  ),
  [
    {
      rule: "!has(self.access) || self.access != 'jwt' || has(self.jwt)",
      message: 'spec.playback.jwt is required when spec.playback.access is jwt',
      fieldPath: '.jwt',
      reason: 'FieldValueRequired',
    },
  ],
);

const Storage = withRules(
  Struct(
    {
      size: Quantity({
        description:
          'Requested size of the recordings volume. May grow (the claim is expanded where its StorageClass has allowVolumeExpansion; condition Reconciled says when it has not), never shrink.',
        default: '10Gi',
      }),
      storageClassName: Type.String({
        description: 'StorageClass of the recordings volume; the cluster default when absent. Immutable once set.',
        maxLength: 253,
      }),
    },
    {
      description: 'The PersistentVolumeClaim <name>-recordings that holds recordings.',
      additionalProperties: false,
      default: {},
    },
  ),
  [
    {
      rule: '!has(oldSelf.storageClassName) || (has(self.storageClassName) && self.storageClassName == oldSelf.storageClassName)',
      message: 'spec.recording.storage.storageClassName is immutable once set',
      fieldPath: '.storageClassName',
    },
    {
      // A PersistentVolumeClaim can grow (where its StorageClass allows expansion) but never shrink.
      rule: '!has(self.size) || !has(oldSelf.size) || quantity(string(self.size)).compareTo(quantity(string(oldSelf.size))) >= 0',
      message: 'spec.recording.storage.size may grow but not shrink: a PersistentVolumeClaim cannot be made smaller',
      fieldPath: '.size',
    },
  ],
);

const Recording = withRules(
  Struct(
    {
      enabled: Type.Boolean({ description: 'Record the stream to a persistent volume.', default: false }),
      format: StringEnum(['fmp4', 'mpegts'], {
        description: 'Container format of recording segments.',
        default: 'fmp4',
      }),
      segmentDuration: Duration({
        description: 'Length of one recording file. Between 1s and 24h.',
        default: '1h',
      }),
      retention: Duration({
        description:
          'How long recordings are kept before they are deleted; 0s keeps them forever. At least segmentDuration.',
        default: '24h',
      }),
      maxSize: Type.Unsafe<string | number>({
        description:
          'Cap on the space recordings take: a quantity of bytes (8Gi, 500Mi) or a percentage of the volume (80%). When exceeded the oldest complete segments are deleted, never the one being written. When absent only retention deletes; a volume that fills up pauses recording (the live stream goes on) until space returns.',
        'x-kubernetes-int-or-string': true,
        anyOf: [{ type: 'integer' }, { type: 'string' }],
        pattern: '^(([0-9]{1,2}(\\.[0-9]+)?|100)%|\\+?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[kMGTPE])?)$',
        maxLength: 32,
      }),
      storage: Storage,
      reclaimPolicy: StringEnum(['Retain', 'Delete'], {
        description:
          'What deleting the LiveStream does to the recordings volume: Retain keeps the PersistentVolumeClaim and its data; Delete lets it be garbage-collected with the LiveStream.',
        default: 'Retain',
      }),
    },
    { description: 'Recording of the stream to a volume.', additionalProperties: false, default: {} },
  ),
  [
    {
      rule: "!has(self.segmentDuration) || (duration(self.segmentDuration) >= duration('1s') && duration(self.segmentDuration) <= duration('24h'))",
      message: 'spec.recording.segmentDuration must be between 1s and 24h',
      fieldPath: '.segmentDuration',
    },
    {
      rule: "!has(self.retention) || !has(self.segmentDuration) || duration(self.retention) == duration('0s') || duration(self.retention) >= duration(self.segmentDuration)",
      message: 'spec.recording.retention must be 0s (keep forever) or at least spec.recording.segmentDuration',
      fieldPath: '.retention',
    },
  ],
);

const ServiceSpec = Struct(
  {
    type: StringEnum(['ClusterIP', 'NodePort', 'LoadBalancer'], {
      description: 'Type of the Service that exposes ingest and playback ports.',
      default: 'ClusterIP',
    }),
    annotations: Type.Record(Type.String(), Type.String({ description: 'An annotation value.' }), {
      description: 'Annotations for the Service, e.g. for a cloud load balancer.',
      maxProperties: 64,
    }),
    loadBalancerClass: Type.String({ description: 'loadBalancerClass of a LoadBalancer Service.', maxLength: 253 }),
    externalTrafficPolicy: StringEnum(['Cluster', 'Local'], {
      description: 'externalTrafficPolicy of a NodePort or LoadBalancer Service; Local keeps viewers’ source IPs.',
    }),
    externalHost: Type.String({
      description:
        'A DNS name you own that leads to this stream (e.g. live.example.com, pointed at the load balancer or the nodes). When set, every URL in status uses it, with the Service’s ports (node ports for NodePort). Otherwise URLs use the load balancer’s address (LoadBalancer), the controller’s --node-address (NodePort), or the cluster-internal Service name (ClusterIP).',
      maxLength: 253,
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
    }),
  },
  { description: 'The Service <name> that exposes the stream.', additionalProperties: false, default: {} },
);

const ResourceList = Type.Record(Type.String(), Quantity({ description: 'A quantity.' }), {
  description: 'Quantities by resource name (cpu, memory).',
  maxProperties: 8,
});

const MediaMTX = Struct(
  {
    image: Type.String({
      description: `MediaMTX image. Must be MediaMTX ${MEDIAMTX_VERSION}-compatible: the operator renders configuration for that version. When absent, the controller's --mediamtx-image (chart value streams.mediamtxImage, default ${DEFAULT_MEDIAMTX_IMAGE}), so an operator upgrade or a registry mirror moves every stream that does not pin one.`,
      minLength: 1,
      maxLength: 512,
    }),
    logLevel: StringEnum(['error', 'warn', 'info', 'debug'], { description: 'MediaMTX log level.', default: 'info' }),
    resources: Struct(
      { requests: ResourceList, limits: ResourceList },
      { description: 'Compute resources of the mediamtx container.', additionalProperties: false },
    ),
  },
  { description: 'The MediaMTX server that runs the stream.', additionalProperties: false, default: {} },
);

/** The protocols whose plain listener can run beside the TLS one (MediaMTX's encryption: optional). */
export const PLAINTEXT_PROTOCOLS = ['rtmp', 'rtsp'] as const;

const Tls = Type.Object(
  {
    secretRef: Type.Object(
      {
        name: Type.String({
          description: 'Name of a Secret in the LiveStream’s namespace.',
          minLength: 1,
          maxLength: 253,
          pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
        }),
      },
      {
        description:
          'A Secret of type kubernetes.io/tls (keys tls.crt and tls.key), such as the one a cert-manager Certificate writes. The certificate is mounted into the MediaMTX container only; renewals are picked up without a restart.',
        additionalProperties: false,
      },
    ),
    allowPlaintext: Type.Optional(
      Type.Array(StringEnum(PLAINTEXT_PROTOCOLS, { description: 'A protocol that keeps its plain listener.' }), {
        description:
          'Plain listeners kept beside the TLS ones, for clients that cannot do TLS: rtmp keeps 1935 next to RTMPS on 1936, rtsp keeps 8554 next to RTSPS on 8322. HLS and WebRTC are served over HTTPS only (MediaMTX serves each over one scheme). Defaults to none.',
        maxItems: 2,
        'x-kubernetes-list-type': 'set',
      }),
    ),
  },
  {
    description:
      'TLS from a certificate Secret: RTMPS (1936) and RTSPS (8322) for ingest, HTTPS for HLS and for WebRTC (WHIP/WHEP), and every URL in status with a TLS scheme. SRT keeps its own encryption.',
    additionalProperties: false,
  },
);

// --- webhooks (issue #12 item 1): spec.webhooks and status.webhooks, kept together -------------------------------
/** Event types a webhook can subscribe to (CloudEvents `type` is io.vstream.<name>: docs/webhooks.md). */
export const WEBHOOK_EVENTS = ['stream.live', 'stream.offline', 'recording.segment_ready', 'stream.failed'] as const;
export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];
export const MAX_WEBHOOKS = 8;

const Webhook = Type.Object(
  {
    url: Type.String({
      description:
        'Where events are POSTed (http or https). A query string or user info in it is sent but never shown in status.',
      minLength: 8,
      maxLength: 2048,
      pattern: '^https?://[^\\s/?#]+[^\\s]*$',
    }),
    secretRef: SecretKeyRef(
      'Secret key holding the signing secret (at least 16 bytes): every request carries webhook-signature, HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>" with it (docs/webhooks.md). A missing Secret or key is condition WebhooksReady=False; the stream itself runs on.',
      'secret',
    ),
    events: Type.Optional(
      Type.Array(StringEnum(WEBHOOK_EVENTS, { description: 'An event type.' }), {
        description: `Events sent to this URL: ${WEBHOOK_EVENTS.join(', ')}. Defaults to all.`,
        minItems: 1,
        maxItems: WEBHOOK_EVENTS.length,
        'x-kubernetes-list-type': 'set',
      }),
    ),
  },
  { description: 'A URL told about the stream’s transitions, with signed CloudEvents.', additionalProperties: false },
);

const Webhooks = Type.Array(Webhook, {
  description: `Up to ${MAX_WEBHOOKS} URLs told when the stream goes live or offline, a recording segment is complete, or the stream fails (docs/webhooks.md). Only the leading controller replica sends; each transition is sent once (at least once with the same id across a controller failover).`,
  maxItems: MAX_WEBHOOKS,
});

const WebhookPendingEvent = Type.Object(
  {
    id: Type.String({ description: 'CloudEvents id (the same on every retry).' }),
    type: StringEnum(WEBHOOK_EVENTS, { description: 'Event type.' }),
    time: Type.String({ description: 'When the transition happened.', format: 'date-time' }),
    data: Type.Optional(
      Type.Record(Type.String(), Type.String({ description: 'A value.' }), {
        description: 'Event data (strings).',
        maxProperties: 16,
      }),
    ),
  },
  { description: 'An event detected and not yet delivered or given up on (the outbox a new leader resumes).' },
);

const WebhookStatus = Struct(
  {
    url: Type.String({ description: 'The webhook URL without query string or user info.' }),
    lastEvent: Type.String({ description: 'Type and id of the last event delivered or given up on.' }),
    lastDelivery: Type.String({ description: 'When the last attempt finished.', format: 'date-time' }),
    lastResult: Type.String({
      description: 'Result of the last attempt: "Delivered <HTTP status>" or "Failed: <reason>".',
      maxLength: 256,
    }),
    consecutiveFailures: Type.Integer({ description: 'Failed attempts since the last delivery.', minimum: 0 }),
    pending: Type.Array(WebhookPendingEvent, {
      description: 'Events detected and not yet delivered (the outbox).',
      maxItems: 32,
    }),
  },
  { description: 'Delivery state of one entry of spec.webhooks (same position).' },
);
// --- end webhooks ------------------------------------------------------------------------------------------------

/** Where a stream can be restreamed to: the destinations MediaMTX's own forwarder speaks, less the ones that would log a key. */
export const RESTREAM_STATES = ['Idle', 'Connecting', 'Connected', 'Retrying'] as const;
export type RestreamState = (typeof RESTREAM_STATES)[number];

export const RESTREAM_SCHEMES = ['rtmp', 'rtmps', 'whip', 'whips'] as const;

const RestreamTarget = Type.Object(
  {
    name: Type.String({
      description: 'Name of the target, unique in the list (status.restream reports each target by it).',
      minLength: 1,
      maxLength: 63,
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
    }),
    url: Type.String({
      description:
        'The platform’s ingest URL without the stream key: rtmp:// or rtmps:// server URL as the platform shows it for OBS “Server” (YouTube: rtmps://a.rtmps.youtube.com/live2, Twitch: rtmps://live.twitch.tv/app), or a whip:// / whips:// WHIP endpoint. SRT targets are not offered: MediaMTX 1.20.1 writes a forward destination’s query, where SRT carries its stream id, into its log.',
      minLength: 1,
      maxLength: 2048,
      'x-kubernetes-validations': [
        {
          rule: "self.matches('^(rtmps?|whips?)://[^/?#@\\\\s]+(/[^?#\\\\s]*)?$')",
          message:
            'spec.restream[].url must be an rtmp://, rtmps://, whip:// or whips:// URL with a host and no user, query or fragment: the stream key comes from secretRef, never from the URL',
        },
      ],
    }),
    secretRef: SecretKeyRef(
      'The Secret key holding the stream key (RTMP/RTMPS, the platform’s “Stream Key”) or the Bearer token (WHIP). Mounted into the stream pod’s auth container only, and handed to MediaMTX through its control API on loopback: never in a ConfigMap, a process argument, a log line or status.',
      'streamKey',
    ),
  },
  { description: 'One restreaming target.', additionalProperties: false },
);

const Restream = Type.Array(RestreamTarget, {
  description:
    'Platforms the live stream is pushed to while a publisher is on air (simulcast), as is (no transcoding), by MediaMTX’s own forwarder; a target that fails is retried every 5 s and its state is in status.restream. Adding, removing or repointing a target is applied without a restart, except a change of the Secrets it names, which mounts them into a new pod (held like any change that drops sessions: see disruptiveUpdates).',
  maxItems: 5,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['name'],
});

// --- thumbnails (issue #12): a poster image of the live stream. Kept in one block. ---
export const DEFAULT_THUMBNAIL_INTERVAL_SECONDS = 10;
const Thumbnails = Struct(
  {
    enabled: Type.Boolean({
      description: 'Keep a JPEG of the live stream, served at status.playback.thumbnail.',
      default: false,
    }),
    intervalSeconds: Type.Integer({
      description: 'How often the JPEG is renewed while the stream is live, in seconds.',
      default: DEFAULT_THUMBNAIL_INTERVAL_SECONDS,
      minimum: 2,
      maximum: 3600,
    }),
  },
  {
    description:
      'A JPEG of the live stream every intervalSeconds, decoded from one keyframe, served under the same access rule as playback (public, or a viewer JWT). Runs two small containers in the stream pod (docs/media.md); H.264 streams only.',
    additionalProperties: false,
    default: {},
  },
);
// --- end thumbnails ---

export const LiveStreamSpec = Struct(
  {
    path: Type.String({
      description:
        'MediaMTX path of the stream, as it appears in ingest and playback URLs. Defaults to live/<metadata.name>.',
      minLength: 1,
      maxLength: 128,
      pattern: '^[0-9a-zA-Z_./-]+$',
      'x-kubernetes-validations': [
        {
          rule: "!self.startsWith('/') && !self.endsWith('/') && !self.contains('//') && !self.matches('(^|/)[.]{1,2}(/|$)')",
          message:
            'spec.path must not start or end with "/", contain "//", or have "." or ".." segments (MediaMTX rejects such path names)',
        },
      ],
    }),
    enabled: Type.Boolean({
      description:
        'false switches the stream off without deleting anything: new publishers are refused and the current one is disconnected within about 2 s; the pod, Service, Secrets and recordings stay, and viewers may stay connected to the (offline) stream. Phase Disabled, condition Ready=False (Disabled). true (the default) accepts publishers again.',
      default: true,
    }),
    ingest: Ingest,
    playback: Playback,
    recording: Recording,
    service: ServiceSpec,
    tls: Tls,
    restream: Restream,
    thumbnails: Thumbnails,
    mediamtx: MediaMTX,
    disruptiveUpdates: StringEnum(['WhenIdle', 'Immediate'], {
      description:
        'When to apply a spec change that would drop connected sessions (one that restarts a MediaMTX server or the pod): WhenIdle waits until no publisher or reader is connected, and condition ConfigApplied=False (WaitingForIdle) says what waits and whom it would drop; Immediate applies it at once and records a Warning event naming whom it dropped.',
      default: 'WhenIdle',
    }),
    webhooks: Webhooks,
  },
  { description: 'Desired state of the stream.', additionalProperties: false, default: {} },
);

const Condition = Type.Object(
  {
    type: Type.String({
      description:
        'Type of the condition: Ready, Reconciled, SecretsResolved, Live, ConfigApplied, PublishTokenStable, EndpointsReady, RecordingHealthy, WebhooksReady.',
      maxLength: 316,
    }),
    status: StringEnum(['True', 'False', 'Unknown'], { description: 'Status of the condition.' }),
    observedGeneration: Type.Optional(
      Type.Integer({ description: 'metadata.generation the condition was computed from.', minimum: 0 }),
    ),
    lastTransitionTime: Type.String({ description: 'When the status last changed.', format: 'date-time' }),
    reason: Type.String({ description: 'Machine-readable CamelCase reason.', maxLength: 1024 }),
    message: Type.String({ description: 'Human-readable explanation.', maxLength: 32768 }),
  },
  {
    description: 'A condition of the LiveStream.',
    required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  },
);

const Url = (description: string) => Type.String({ description });

export const LiveStreamStatus = Struct(
  {
    observedGeneration: Type.Integer({ description: 'metadata.generation last reconciled.', minimum: 0 }),
    phase: StringEnum(['Pending', 'Ready', 'Live', 'Disabled', 'Degraded', 'Failed'], {
      description:
        'Summary: Pending (being set up), Ready (accepting a publisher), Live (a publisher is online), Disabled (spec.enabled is false: running, refusing publishers), Degraded (running with a problem), Failed (cannot run until the spec or a Secret is fixed).',
    }),
    conditions: Type.Array(Condition, {
      description: 'Conditions of the LiveStream.',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    }),
    path: Type.String({ description: 'MediaMTX path of the stream.' }),
    live: Type.Boolean({ description: 'A publisher is online.' }),
    viewers: Type.Integer({
      description:
        'Readers playing the stream, as last reported: a changed count reaches status within about a minute (the exact count is in MediaMTX metrics, paths_readers).',
      minimum: 0,
    }),
    endpoints: Struct(
      {
        host: Type.String({
          description:
            'The host every URL in status uses (IPv6 in brackets). Absent while it is not known yet (a load balancer without an address).',
        }),
        scope: StringEnum(['External', 'ClusterInternal', 'Pending'], {
          description:
            'Who can reach the URLs: External (from outside the cluster), ClusterInternal (only from inside: a ClusterIP Service), Pending (no address yet; condition EndpointsReady says what is missing, and status carries no host-bearing URL until it is known).',
        }),
      },
      { description: 'Where the stream is reached from.' },
    ),
    ingest: Struct(
      {
        url: Url(
          'The primary ingest URL, without the token (the RTMP(S) server URL when rtmp is enabled; else SRT, WHIP, RTSP). Absent while endpoints are pending.',
        ),
        rtmp: Struct(
          {
            server: Url('RTMP server URL (OBS "Server").'),
            streamKey: Type.String({
              description: 'Stream key without the token: OBS "Stream Key" is <streamKey>?token=<publish token>.',
            }),
          },
          { description: 'RTMP ingest.' },
        ),
        srt: Url(
          'SRT ingest URL. Its streamid is publish:<path>; the streamer appends ::<publish token> (publish:<path>::<token>).',
        ),
        rtsp: Url('RTSP ingest URL.'),
        webrtc: Url('WHIP ingest URL (OBS 30+ "WHIP" service: the publish token is its Bearer token).'),
        publishTokenSecretRef: Struct(
          { name: Type.String({ description: 'Secret name.' }), key: Type.String({ description: 'Secret key.' }) },
          { description: 'The Secret key that holds the publish token (status never contains the token).' },
        ),
      },
      { description: 'Where a streamer publishes.' },
    ),
    playback: Struct(
      {
        hls: Url('HLS playlist URL.'),
        webrtc: Url('WebRTC (WHEP) page URL.'),
        rtsp: Url('RTSP playback URL.'),
        srt: Url('SRT playback URL.'),
        thumbnail: Url(
          'URL of a JPEG of the live stream (spec.thumbnails), renewed every intervalSeconds while live; a viewer JWT applies as for playback (?jwt=<token> or an Authorization: Bearer header). 404 until the first image.',
        ),
      },
      { description: 'Where viewers play the stream.' },
    ),
    recording: Struct(
      {
        claimName: Type.String({ description: 'PersistentVolumeClaim holding recordings.' }),
        playbackURL: Type.String({
          description:
            'Base URL of the recordings playback server: GET <playbackURL>/list?path=<path> lists the recorded time ranges, /get?path=<path>&start=<RFC 3339>&duration=<seconds> serves one as MP4. Viewer JWTs apply as for live playback (`vstream recordings url` prints one).',
        }),
        oldest: Type.String({ description: 'Start of the oldest recording kept.', format: 'date-time' }),
        newest: Type.String({ description: 'End of the newest recording.', format: 'date-time' }),
        usedBytes: Type.Integer({ description: 'Bytes of recordings on the volume (updated at most once a minute).' }),
        freeBytes: Type.Integer({
          description: 'Free bytes on the recordings volume (updated at most once a minute).',
        }),
        paused: Type.Boolean({
          description:
            'Recording is paused because the volume is full and nothing may be deleted (see condition RecordingHealthy).',
        }),
      },
      { description: 'Where recordings are written, what is kept and how to play it back.' },
    ),
    webhooks: Type.Array(WebhookStatus, {
      description: 'Per entry of spec.webhooks: what was last sent and how it went.',
    }),
    restream: Type.Array(
      Type.Object(
        {
          name: Type.String({ description: 'The target’s name in spec.restream.' }),
          state: StringEnum(RESTREAM_STATES, {
            description:
              'Idle (no publisher on air), Connecting, Connected (media flowing to the target), Retrying (the last attempt failed; MediaMTX tries again every 5 s).',
          }),
          reason: Type.Optional(
            Type.String({ description: 'Why it is retrying, as the target or MediaMTX said it (never the key).' }),
          ),
          since: Type.String({ description: 'When the target entered this state.', format: 'date-time' }),
        },
        { description: 'One restreaming target.' },
      ),
      {
        description: 'Each spec.restream target’s state (from the stream pod, written when a state changes).',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      },
    ),
  },
  { description: 'Observed state of the stream.' },
);

export type LiveStreamSpec = Static<typeof LiveStreamSpec>;
export type LiveStreamStatus = Static<typeof LiveStreamStatus>;
export type Condition = Static<typeof Condition>;
export type Phase = NonNullable<LiveStreamStatus['phase']>;

export interface LiveStream {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec: LiveStreamSpec;
  status?: LiveStreamStatus;
}

/** Root-level rules: the name becomes a Service name (DNS-1035) and prefixes child names. */
export const ROOT_RULES = [
  {
    rule: "self.metadata.name.size() <= 52 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
    message:
      'metadata.name must start with a letter, contain only lowercase letters, digits and "-", and be at most 52 characters (it names the stream’s Service and Deployment)',
  },
];

type Defaulted<T> = T extends (infer U)[]
  ? Defaulted<U>[]
  : T extends object
    ? { [K in keyof T]-?: Defaulted<T[K]> }
    : T;

/** The fields that always have a value after defaulting; optional ones stay optional. */
export type ResolvedSpec = Omit<LiveStreamSpec, 'path'> & {
  path: string;
  ingest: Required<Pick<LiveStreamSpec, 'ingest'>>['ingest'] & { protocols: IngestProtocol[] };
  playback: Omit<NonNullable<LiveStreamSpec['playback']>, 'protocols' | 'access' | 'allowedOrigins'> & {
    protocols: PlaybackProtocol[];
    access: 'public' | 'jwt';
    allowedOrigins: string[];
  };
  recording: Defaulted<Omit<NonNullable<LiveStreamSpec['recording']>, 'storage'>> & {
    storage: { size: string | number; storageClassName?: string };
  };
  service: NonNullable<LiveStreamSpec['service']> & { type: 'ClusterIP' | 'NodePort' | 'LoadBalancer' };
  mediamtx: NonNullable<LiveStreamSpec['mediamtx']> & { logLevel: string };
  disruptiveUpdates: 'WhenIdle' | 'Immediate';
  thumbnails: { enabled: boolean; intervalSeconds: number };
  enabled: boolean;
};

/**
 * Applies the schema defaults exactly as the API server does, plus the one default a static schema cannot
 * express (path = live/<name>), so renderers never see a hole.
 */
export function resolveSpec(name: string, spec: LiveStreamSpec | undefined): ResolvedSpec {
  const withDefaults = Value.Default(LiveStreamSpec, structuredClone(spec ?? {})) as LiveStreamSpec;
  return { ...withDefaults, path: withDefaults.path ?? `live/${name}` } as ResolvedSpec;
}
