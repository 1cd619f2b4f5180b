// The auth sidecar's two JSON contracts, each one TypeBox schema with its static type, so the writer and the reader
// cannot drift apart:
// - auth.json: written by the operator's renderer (src/render/mediamtx-config.ts) into the stream's ConfigMap, read
//   and validated by the sidecar at start and on every reload (./config.ts).
// - the body MediaMTX 1.20.1 POSTs to authHTTPAddress (internal/auth/manager.go authenticateHTTP): fastify validates
//   it with this schema before a decision is attempted; anything that does not match is denied with 400.
// The renderer imports this module: it must stay free of anything heavier than TypeBox itself.
import { Kind, type SchemaOptions, type Static, Type, TypeRegistry } from '@sinclair/typebox';

// A plain {type: string, enum: [...]} for fastify's ajv (TypeBox's literal unions compile to a slower anyOf of
// consts) that TypeBox's own Value checker also understands, through a registered kind.
TypeRegistry.Set<{ enum: string[] }>(
  'StringEnum',
  (schema, value) => typeof value === 'string' && schema.enum.includes(value),
);
const StringEnum = <T extends string>(values: readonly T[], options: SchemaOptions) =>
  Type.Unsafe<T>({ ...options, [Kind]: 'StringEnum', type: 'string', enum: [...values] });

const FilePath = (description: string) => Type.String({ description, minLength: 1, maxLength: 4096 });

export const READ_ACCESS = ['public', 'jwt'] as const;

const strict = { additionalProperties: false } as const;

/**
 * auth.json. Unknown fields are refused: a field this sidecar does not know may carry a restriction it would not
 * enforce, so a config from a newer operator is kept out (the previous config stays) rather than half-applied.
 */
export const AuthConfigSchema = Type.Object(
  {
    path: Type.String({ description: 'The MediaMTX path of the stream; every other path is denied.', minLength: 1 }),
    publish: Type.Object(
      {
        tokenFile: FilePath('File of accepted publish tokens, one per line.'),
        override: Type.Optional(
          StringEnum(['sameToken'] as const, {
            description:
              'MediaMTX replaces a live publisher with any newcomer the hook allows (overridePublisher): allow that only to the token the live publisher used, so a streamer reconnects at once and nobody else can take the stream.',
          }),
        ),
        // spec.enabled and spec.ingest.maxDuration (./session-control.ts enforces both in the pod).
        enabled: Type.Optional(
          Type.Boolean({ description: 'false: every publish is denied (stream_disabled) and a live one is ended.' }),
        ),
        maxDurationSeconds: Type.Optional(
          Type.Number({ description: 'End a publish session this long after it went online.', exclusiveMinimum: 0 }),
        ),
      },
      strict,
    ),
    read: Type.Object(
      {
        access: StringEnum(READ_ACCESS, { description: 'Who may read: anyone, or holders of a viewer JWT.' }),
        jwt: Type.Optional(
          Type.Object(
            {
              issuer: Type.String({ description: 'Required iss claim.', minLength: 1 }),
              audience: Type.String({ description: 'Required aud claim.', minLength: 1 }),
              algorithms: Type.Optional(
                Type.Array(Type.String({ minLength: 1 }), { description: 'Accepted JWS algorithms.' }),
              ),
              clockSkewSeconds: Type.Number({ description: 'Tolerance for exp and nbf.', minimum: 0, maximum: 300 }),
              keysFile: Type.Optional(FilePath('File holding a JWKS of public keys, or an HMAC secret.')),
              jwksURL: Type.Optional(
                Type.String({ description: 'URL of a JWKS fetched in the background.', pattern: '^https?://\\S+$' }),
              ),
            },
            strict,
          ),
        ),
      },
      strict,
    ),
    api: Type.Object({ tokenFile: FilePath('File of the internal token for MediaMTX’s API.') }, strict),
    metrics: Type.Object(
      { allow: Type.Boolean({ description: 'Allow MediaMTX’s metrics without a credential.' }) },
      strict,
    ),
    // Present when the stream records: the sidecar then loads src/recording/ (retention and the disk-full pause).
    recording: Type.Optional(
      Type.Object(
        {
          dir: FilePath('The recordings volume’s mount point in the sidecar.'),
          retentionSeconds: Type.Number({ description: 'Delete segments older than this; 0 keeps them.', minimum: 0 }),
          maxBytes: Type.Optional(Type.Number({ description: 'Size cap in bytes.', minimum: 0 })),
          maxPercent: Type.Optional(
            Type.Number({ description: 'Size cap in percent of the volume.', exclusiveMinimum: 0, maximum: 100 }),
          ),
          reserveBytes: Type.Number({ description: 'Pause recording below this much free space.', minimum: 0 }),
        },
        strict,
      ),
    ),
    // Present with spec.thumbnails: the media container reads the stream from loopback with the internal API token,
    // and the sidecar serves the thumbnail it leaves on the media emptyDir.
    media: Type.Optional(
      Type.Object(
        {
          dir: FilePath('The media emptyDir, where thumbnail.jpg is.'),
          thumbnails: Type.Boolean({ description: 'Serve the thumbnail behind the playback access rule.' }),
        },
        strict,
      ),
    ),
    // Present when the stream restreams: the sidecar then loads src/restream/ (it hands MediaMTX the destinations,
    // keys included, over the control API on loopback, and reports each target's state).
    restream: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({ description: 'The target’s name.', minLength: 1, maxLength: 63 }),
            url: Type.String({
              description: 'rtmp(s):// server URL or whip(s):// endpoint, without the key.',
              pattern: '^(rtmps?|whips?)://\\S+$',
            }),
            keyFile: FilePath('File holding the stream key (RTMP) or Bearer token (WHIP).'),
            secret: Type.String({ description: 'The Secret and key it comes from, "<name>/<key>", for messages.' }),
          },
          strict,
        ),
        { maxItems: 16 },
      ),
    ),
  },
  strict,
);
export type AuthConfig = Static<typeof AuthConfigSchema>;

export const ACTIONS = ['publish', 'read', 'playback', 'api', 'metrics', 'pprof'] as const;
export const PROTOCOLS = ['rtsp', 'rtmp', 'hls', 'webrtc', 'srt', 'moq', ''] as const;
export type Action = (typeof ACTIONS)[number];

const str = (maxLength: number) => Type.String({ maxLength });

/**
 * MediaMTX's request. Extra fields are allowed (a newer MediaMTX may add some); the lengths bound what a client can
 * make us hash or log.
 */
export const AuthRequestSchema = Type.Object({
  // MediaMTX fills ip and id itself; constraining them keeps client-chosen text (possibly a credential) out of logs.
  ip: Type.String({ maxLength: 64, pattern: '^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9a-fA-F:.]+(%[\\w.-]+)?)?$' }),
  user: str(1024),
  password: str(8192),
  // Absent before MediaMTX 1.12.3; fastify fills in the default.
  token: Type.Optional(Type.String({ maxLength: 8192, default: '' })),
  action: StringEnum(ACTIONS, {}),
  path: str(1024),
  protocol: StringEnum(PROTOCOLS, {}),
  id: Type.Optional(Type.Union([Type.String({ pattern: '^([0-9a-fA-F-]{36})?$' }), Type.Null()])),
  query: str(8192),
  userAgent: Type.Optional(str(1024)),
});
export type AuthRequest = Static<typeof AuthRequestSchema>;
