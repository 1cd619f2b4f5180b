// Which listeners a stream needs, derived from its enabled protocols. MediaMTX, the pod and the Services all read
// this one table so a port can never be open in one place and missing in another.
import type { ResolvedSpec } from '../api/livestream.ts';

export interface PortSpec {
  name: string;
  /** The Service port (and the container port unless containerPort says otherwise). */
  port: number;
  protocol: 'TCP' | 'UDP';
  /** Where MediaMTX listens, when not on `port`: WebRTC ICE on a NodePort Service listens on its node port. */
  containerPort?: number;
}

export const AUTH_HOOK_PORT = 9000; // loopback only: MediaMTX -> sidecar
export const AUTH_METRICS_PORT = 9091; // sidecar /metrics, /healthz, /startz, /readyz, /control
export const MEDIAMTX_METRICS_PORT = 9998;
export const MEDIAMTX_API_PORT = 9997;

export const PROTOCOL_PORTS = {
  rtmp: [{ name: 'rtmp', port: 1935, protocol: 'TCP' }],
  rtsp: [{ name: 'rtsp', port: 8554, protocol: 'TCP' }],
  srt: [{ name: 'srt', port: 8890, protocol: 'UDP' }],
  hls: [{ name: 'hls', port: 8888, protocol: 'TCP' }],
  // WHIP/WHEP signalling, then media over ICE: one fixed UDP port and one fixed TCP port (for networks that block
  // UDP), both on the Service, so a load balancer or a node port can carry them.
  webrtc: [
    { name: 'webrtc', port: 8889, protocol: 'TCP' },
    { name: 'webrtc-ice', port: 8189, protocol: 'UDP' },
    { name: 'webrtc-ice-tcp', port: 8189, protocol: 'TCP' },
  ],
} as const satisfies Record<string, readonly PortSpec[]>;

/** With spec.tls: RTMPS and RTSPS replace (or, with spec.tls.allowPlaintext, join) the plain listeners. */
export const TLS_PORTS = {
  rtmp: { name: 'rtmps', port: 1936, protocol: 'TCP' },
  rtsp: { name: 'rtsps', port: 8322, protocol: 'TCP' },
} as const satisfies Record<string, PortSpec>;

export type Server = keyof typeof PROTOCOL_PORTS;

/** The recordings playback server (MediaMTX's /list and /get), on the Service while the stream records. */
export const PLAYBACK_PORT = { name: 'playback', port: 9996, protocol: 'TCP' } as const satisfies PortSpec;

/** The thumbnail JPEG (spec.thumbnails), served by the auth sidecar behind the playback access rule. */
export const THUMBNAIL_PORT = { name: 'thumbnail', port: 8880, protocol: 'TCP' } as const satisfies PortSpec;

/** MediaMTX servers to switch on: the union of ingest and playback protocols. */
export function enabledServers(spec: ResolvedSpec): Set<Server> {
  return new Set<Server>([...spec.ingest.protocols, ...spec.playback.protocols]);
}

/** Whether a protocol keeps its plain listener: always without TLS, with TLS only when allowPlaintext names it. */
export function plainListener(spec: ResolvedSpec, protocol: 'rtmp' | 'rtsp'): boolean {
  return !spec.tls || (spec.tls.allowPlaintext ?? []).includes(protocol);
}

/**
 * Public ports in a stable order (the order of PROTOCOL_PORTS), so renders are deterministic. `ice` gives the node
 * ports MediaMTX's ICE listeners must use on a NodePort Service (a candidate advertises the port it listens on).
 */
export function publicPorts(spec: ResolvedSpec, ice: { udp?: number; tcp?: number } = {}): PortSpec[] {
  const on = enabledServers(spec);
  const ports = (Object.keys(PROTOCOL_PORTS) as Server[])
    .filter((s) => on.has(s))
    .flatMap((s): PortSpec[] => {
      if (s === 'rtmp' || s === 'rtsp')
        return [...(spec.tls ? [TLS_PORTS[s]] : []), ...(plainListener(spec, s) ? PROTOCOL_PORTS[s] : [])];
      return PROTOCOL_PORTS[s].map((p) => {
        const listen = p.name === 'webrtc-ice' ? ice.udp : p.name === 'webrtc-ice-tcp' ? ice.tcp : undefined;
        return listen ? { ...p, containerPort: listen } : { ...p };
      });
    });
  return [
    ...ports,
    ...(spec.recording.enabled ? [{ ...PLAYBACK_PORT }] : []),
    ...(spec.thumbnails?.enabled ? [{ ...THUMBNAIL_PORT }] : []),
  ];
}

/** On the ClusterIP metrics Service only: never exposed by the user-facing (possibly public) Service. */
export const metricsPorts: PortSpec[] = [
  { name: 'metrics', port: MEDIAMTX_METRICS_PORT, protocol: 'TCP' },
  { name: 'api', port: MEDIAMTX_API_PORT, protocol: 'TCP' },
  { name: 'auth-metrics', port: AUTH_METRICS_PORT, protocol: 'TCP' },
];
