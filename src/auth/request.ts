// The request MediaMTX 1.20.1 POSTs to authHTTPAddress: its schema and type live in ./contract.ts; here, the body
// limit and a request builder for tests and benchmarks.
import type { AuthRequest } from './contract.ts';

export { ACTIONS, type Action, type AuthRequest, AuthRequestSchema, PROTOCOLS } from './contract.ts';

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
