// The request MediaMTX 1.20.1 POSTs to authHTTPAddress (internal/auth/manager.go authenticateHTTP), as a compiled
// fastify schema: anything that does not match is answered 400 (deny) before a decision is attempted.
export const ACTIONS = ['publish', 'read', 'playback', 'api', 'metrics', 'pprof'] as const;
export const PROTOCOLS = ['rtsp', 'rtmp', 'hls', 'webrtc', 'srt', 'moq', ''] as const;
export type Action = (typeof ACTIONS)[number];

export interface AuthRequest {
  ip: string;
  user: string;
  password: string;
  token: string;
  action: Action;
  path: string;
  protocol: (typeof PROTOCOLS)[number];
  id: string | null;
  query: string;
  userAgent?: string;
}

const str = (maxLength: number) => ({ type: 'string', maxLength }) as const;

export const authRequestSchema = {
  type: 'object',
  required: ['ip', 'user', 'password', 'action', 'path', 'protocol', 'query'],
  properties: {
    // MediaMTX fills ip and id itself; constraining them keeps client-chosen text (possibly a credential) out of logs.
    ip: { type: 'string', maxLength: 64, pattern: '^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9a-fA-F:.]+(%[\\w.-]+)?)?$' },
    user: str(1024),
    password: str(8192),
    // Absent before MediaMTX 1.12.3.
    token: { ...str(8192), default: '' },
    action: { type: 'string', enum: [...ACTIONS] },
    path: str(1024),
    protocol: { type: 'string', enum: [...PROTOCOLS] },
    id: { anyOf: [{ type: 'string', pattern: '^([0-9a-fA-F-]{36})?$' }, { type: 'null' }] },
    query: str(8192),
    userAgent: str(1024),
  },
} as const;

/** MediaMTX bodies are a few hundred bytes; anything near this is an attack or a bug. */
export const MAX_BODY_BYTES = 32 * 1024;

/** A request exactly as MediaMTX 1.20.1 sends it (field order and types of authenticateHTTP), for tests and benchmarks. */
export function mediamtxRequest(fields: Partial<Record<keyof AuthRequest, unknown>> & Record<string, unknown> = {}) {
  return {
    ip: '203.0.113.7',
    user: '',
    password: '',
    token: '',
    action: 'read',
    path: 'live/s',
    protocol: 'hls',
    id: '2b1f9c3e-8d1a-4c55-9a1e-6f0b7c2d9e10',
    query: '',
    userAgent: 'test',
    ...fields,
  };
}
