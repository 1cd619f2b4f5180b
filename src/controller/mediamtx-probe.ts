// Asks a stream's MediaMTX control API whether a publisher is online and how many readers it has.
// A plain request (../net/http.ts), not fetch: the live loop asks every running stream every 10 s, and fetch's
// WHATWG streams and Response objects cost several times the allocations of a plain request for a body this small.
import { request } from '../net/http.ts';

export interface ProbeResult {
  online: boolean;
  readers: number;
  /** The publisher's session type (rtmpConn, srtConn, webRTCSession, ...), when one is online. */
  publisher?: string;
  /** Each reader's session type (hlsMuxer, webRTCSession, rtspSession, ...). */
  readerTypes: string[];
  /**
   * Set by the controller, not MediaMTX: the publisher dropped at this time and the stream still counts as live
   * (online stays true) for a grace period, so a streamer's reconnect after a network blip is not an outage.
   */
  reconnectingSince?: string;
}

/** Where the control API of a stream is reachable; in a cluster the metrics Service, in dev the local pod runner. */
export type ApiLocator = (namespace: string, name: string) => string | undefined;

export const inClusterLocator: ApiLocator = (namespace, name) => `http://${name}-metrics.${namespace}.svc:9997`;

export async function probeMediaMTX(
  base: string,
  path: string,
  apiToken: string,
  timeoutMs = 2000,
): Promise<ProbeResult> {
  const res = await request(`${base}/v3/paths/get/${path}`, {
    headers: { authorization: `Bearer ${apiToken}` },
    signal: AbortSignal.timeout(timeoutMs),
  });
  // A configured path with no publisher is reported as 404 by some versions and as online:false by others.
  if (res.statusCode === 404) {
    await res.body.dump();
    return { online: false, readers: 0, readerTypes: [] };
  }
  if (res.statusCode < 200 || res.statusCode >= 300) {
    await res.body.dump();
    throw new Error(`MediaMTX API answered ${res.statusCode}`);
  }
  const body = (await res.body.json()) as {
    online?: boolean;
    ready?: boolean;
    source?: { type?: string } | null;
    readers?: { type?: string }[];
  };
  const online = Boolean(body.online ?? body.ready);
  const readerTypes = (body.readers ?? []).map((r) => r.type ?? 'unknown');
  return {
    online,
    readers: readerTypes.length,
    readerTypes,
    ...(online && body.source?.type ? { publisher: body.source.type } : {}),
  };
}
