// Which listeners a stream needs, derived from its enabled protocols. MediaMTX, the pod and the Services all read
// this one table so a port can never be open in one place and missing in another.
import type { ResolvedSpec } from '../api/livestream.ts';

export interface PortSpec {
  name: string;
  port: number;
  protocol: 'TCP' | 'UDP';
}

export const AUTH_HOOK_PORT = 9000; // loopback only: MediaMTX -> sidecar
export const AUTH_METRICS_PORT = 9091; // sidecar /metrics, /healthz, /readyz
export const MEDIAMTX_METRICS_PORT = 9998;
export const MEDIAMTX_API_PORT = 9997;

export const PROTOCOL_PORTS = {
  rtmp: [{ name: 'rtmp', port: 1935, protocol: 'TCP' }],
  rtsp: [{ name: 'rtsp', port: 8554, protocol: 'TCP' }],
  srt: [{ name: 'srt', port: 8890, protocol: 'UDP' }],
  hls: [{ name: 'hls', port: 8888, protocol: 'TCP' }],
  webrtc: [
    { name: 'webrtc', port: 8889, protocol: 'TCP' },
    { name: 'webrtc-ice', port: 8189, protocol: 'UDP' },
  ],
} as const satisfies Record<string, readonly PortSpec[]>;

export type Server = keyof typeof PROTOCOL_PORTS;

/** MediaMTX servers to switch on: the union of ingest and playback protocols. */
export function enabledServers(spec: ResolvedSpec): Set<Server> {
  return new Set<Server>([...spec.ingest.protocols, ...spec.playback.protocols]);
}

/** Public ports in a stable order (the order of PROTOCOL_PORTS), so renders are deterministic. */
export function publicPorts(spec: ResolvedSpec): PortSpec[] {
  const on = enabledServers(spec);
  return (Object.keys(PROTOCOL_PORTS) as Server[]).filter((s) => on.has(s)).flatMap((s) => [...PROTOCOL_PORTS[s]]);
}

/** On the ClusterIP metrics Service only: never exposed by the user-facing (possibly public) Service. */
export const metricsPorts: PortSpec[] = [
  { name: 'metrics', port: MEDIAMTX_METRICS_PORT, protocol: 'TCP' },
  { name: 'api', port: MEDIAMTX_API_PORT, protocol: 'TCP' },
  { name: 'auth-metrics', port: AUTH_METRICS_PORT, protocol: 'TCP' },
];
