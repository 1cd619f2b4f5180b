// Invalid LiveStreams and the field each rejection must name. The unit tests evaluate the CEL ones with a CEL
// interpreter; the integration tests send every one of them to a real kube-apiserver.
export interface InvalidCase {
  title: string;
  name?: string;
  spec: Record<string, unknown>;
  /** Substrings the API server's error must contain (the field, and the message for CEL rules). */
  expect: string[];
  /** Enforced by a CEL rule (vs. by the OpenAPI schema: enum, pattern, bounds, list type). */
  cel: boolean;
}

const jwt = { issuer: 'https://id.example.com', keysSecretRef: { name: 'viewer-keys' } };

export const INVALID: InvalidCase[] = [
  {
    title: 'empty ingest protocols',
    spec: { ingest: { protocols: [] } },
    expect: ['spec.ingest.protocols'],
    cel: false,
  },
  {
    title: 'duplicate ingest protocol',
    spec: { ingest: { protocols: ['rtmp', 'rtmp'] } },
    expect: ['spec.ingest.protocols[1]', 'Duplicate'],
    cel: false,
  },
  {
    title: 'unknown ingest protocol',
    spec: { ingest: { protocols: ['hls'] } },
    expect: ['spec.ingest.protocols[0]', 'Unsupported value'],
    cel: false,
  },
  {
    title: 'duplicate playback protocol',
    spec: { playback: { protocols: ['hls', 'hls'] } },
    expect: ['spec.playback.protocols[1]', 'Duplicate'],
    cel: false,
  },
  {
    title: 'unknown access mode',
    spec: { playback: { access: 'private' } },
    expect: ['spec.playback.access'],
    cel: false,
  },
  {
    title: 'jwt access without jwt settings',
    spec: { playback: { access: 'jwt' } },
    expect: ['spec.playback.jwt', 'spec.playback.jwt is required when spec.playback.access is jwt'],
    cel: true,
  },
  {
    title: 'jwt settings without keys',
    spec: { playback: { access: 'jwt', jwt: { issuer: 'https://id.example.com' } } },
    expect: ['spec.playback.jwt', 'needs keysSecretRef or jwksURL'],
    cel: true,
  },
  {
    title: 'jwt without issuer',
    spec: { playback: { access: 'jwt', jwt: { keysSecretRef: { name: 'k' } } } },
    expect: ['spec.playback.jwt.issuer', 'Required'],
    cel: false,
  },
  {
    title: 'plain-http JWKS URL',
    spec: { playback: { access: 'jwt', jwt: { ...jwt, jwksURL: 'http://id.example.com/jwks' } } },
    expect: ['spec.playback.jwt.jwksURL'],
    cel: false,
  },
  {
    title: 'alg none',
    spec: { playback: { access: 'jwt', jwt: { ...jwt, algorithms: ['none'] } } },
    expect: ['spec.playback.jwt.algorithms[0]'],
    cel: false,
  },
  {
    title: 'clock skew too large',
    spec: { playback: { access: 'jwt', jwt: { ...jwt, clockSkew: '1h' } } },
    expect: ['spec.playback.jwt.clockSkew', 'at most 5m'],
    cel: true,
  },
  {
    title: 'origin with a path',
    spec: { playback: { allowedOrigins: ['https://example.com/page'] } },
    expect: ['spec.playback.allowedOrigins[0]'],
    cel: false,
  },
  {
    title: 'maxDuration beyond a week',
    spec: { ingest: { maxDuration: '200h' } },
    expect: ['spec.ingest.maxDuration', 'between 1s and 168h'],
    cel: true,
  },
  {
    title: 'maxDuration under a second',
    spec: { ingest: { maxDuration: '500ms' } },
    expect: ['spec.ingest.maxDuration', 'between 1s and 168h'],
    cel: true,
  },
  {
    title: 'maxDuration that is not a duration',
    spec: { ingest: { maxDuration: '4 hours' } },
    expect: ['spec.ingest.maxDuration'],
    cel: false,
  },
  {
    title: 'enabled that is not a boolean',
    spec: { enabled: 'no' },
    expect: ['spec.enabled'],
    cel: false,
  },
  {
    title: 'segment longer than 24h',
    spec: { recording: { enabled: true, segmentDuration: '25h', retention: '0s' } },
    expect: ['spec.recording.segmentDuration', 'between 1s and 24h'],
    cel: true,
  },
  {
    title: 'retention shorter than a segment',
    spec: { recording: { enabled: true, segmentDuration: '1h', retention: '30m' } },
    expect: ['spec.recording.retention', 'at least spec.recording.segmentDuration'],
    cel: true,
  },
  {
    title: 'duration with a day unit',
    spec: { recording: { retention: '7d' } },
    expect: ['spec.recording.retention'],
    cel: false,
  },
  {
    title: 'unknown record format',
    spec: { recording: { format: 'mkv' } },
    expect: ['spec.recording.format'],
    cel: false,
  },
  {
    title: 'bad storage size',
    spec: { recording: { storage: { size: 'lots' } } },
    expect: ['spec.recording.storage.size'],
    cel: false,
  },
  {
    title: 'unknown reclaim policy',
    spec: { recording: { reclaimPolicy: 'Recycle' } },
    expect: ['spec.recording.reclaimPolicy'],
    cel: false,
  },
  { title: 'path with a dot segment', spec: { path: 'live/../admin' }, expect: ['spec.path', 'segments'], cel: true },
  {
    title: 'path ending with a slash',
    spec: { path: 'live/' },
    expect: ['spec.path', 'must not start or end'],
    cel: true,
  },
  { title: 'path with a regexp prefix', spec: { path: '~^.*$' }, expect: ['spec.path'], cel: false },
  {
    title: 'unknown service type',
    spec: { service: { type: 'ExternalName' } },
    expect: ['spec.service.type'],
    cel: false,
  },
  {
    title: 'name too long for a Service',
    name: `a${'b'.repeat(60)}`,
    spec: {},
    expect: ['metadata.name', 'at most 52'],
    cel: true,
  },
  {
    title: 'name starting with a digit',
    name: '1stream',
    spec: {},
    expect: ['metadata.name', 'start with a letter'],
    cel: true,
  },
  {
    title: 'unknown mediamtx log level',
    spec: { mediamtx: { logLevel: 'trace' } },
    expect: ['spec.mediamtx.logLevel'],
    cel: false,
  },
  {
    title: 'external host with a scheme',
    spec: { service: { externalHost: 'https://live.example.com' } },
    expect: ['spec.service.externalHost'],
    cel: false,
  },
  {
    title: 'external host with a port',
    spec: { service: { externalHost: 'live.example.com:1935' } },
    expect: ['spec.service.externalHost'],
    cel: false,
  },
  {
    title: 'tls without a secretRef',
    spec: { tls: {} },
    expect: ['spec.tls.secretRef', 'Required'],
    cel: false,
  },
  {
    title: 'plaintext HLS beside TLS (MediaMTX serves HLS over one scheme)',
    spec: { tls: { secretRef: { name: 'x' }, allowPlaintext: ['hls'] } },
    expect: ['spec.tls.allowPlaintext[0]', 'Unsupported value'],
    cel: false,
  },
  {
    title: 'duplicate restream target names',
    spec: {
      restream: [
        { name: 'a', url: 'rtmp://h/app', secretRef: { name: 'k' } },
        { name: 'a', url: 'rtmp://h2/app', secretRef: { name: 'k' } },
      ],
    },
    expect: ['spec.restream[1]', 'Duplicate'],
    cel: false,
  },
  {
    title: 'offline slate AAC without its settings',
    spec: { ingest: { offlineSlate: { audio: { codec: 'AAC' } } } },
    expect: ['spec.ingest.offlineSlate.audio', 'needs sampleRate and channels'],
    cel: true,
  },
  {
    title: 'offline slate without audio',
    spec: { ingest: { offlineSlate: { video: 'H264' } } },
    expect: ['spec.ingest.offlineSlate.audio', 'Required'],
    cel: false,
  },
  {
    title: 'webhook URL that is not http(s)',
    spec: { webhooks: [{ url: 'ftp://hooks.example.com/in', secretRef: { name: 'hook' } }] },
    expect: ['spec.webhooks[0].url'],
    cel: false,
  },
  {
    title: 'webhook without a signing secret',
    spec: { webhooks: [{ url: 'https://hooks.example.com/in' }] },
    expect: ['spec.webhooks[0].secretRef', 'Required'],
    cel: false,
  },
  {
    title: 'webhook with an unknown event',
    spec: {
      webhooks: [
        { ...{ url: 'https://hooks.example.com/in', secretRef: { name: 'hook' } }, events: ['stream.started'] },
      ],
    },
    expect: ['spec.webhooks[0].events[0]', 'Unsupported value'],
    cel: false,
  },
  {
    title: 'more than 8 webhooks',
    spec: {
      webhooks: Array.from({ length: 9 }, () => ({ url: 'https://hooks.example.com/in', secretRef: { name: 'hook' } })),
    },
    expect: ['spec.webhooks', 'must have at most 8 items'],
    cel: false,
  },
  {
    title: 'thumbnail interval below 2 s',
    spec: { thumbnails: { enabled: true, intervalSeconds: 1 } },
    expect: ['spec.thumbnails.intervalSeconds'],
    cel: false,
  },
  {
    title: 'an SRT restream target (MediaMTX would log its stream id)',
    spec: { restream: [{ name: 'yt', url: 'srt://ingest.example.com:9000', secretRef: { name: 'k' } }] },
    expect: ['spec.restream[0].url', 'must be an rtmp://, rtmps://, whip:// or whips:// URL'],
    cel: true,
  },
  {
    title: 'a stream key in a restream URL',
    spec: { restream: [{ name: 'yt', url: 'rtmp://a.example/live2?key=abc', secretRef: { name: 'k' } }] },
    expect: ['spec.restream[0].url', 'never from the URL'],
    cel: true,
  },
];
