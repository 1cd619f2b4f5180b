// What MediaMTX 1.20.1 does when a rendered key changes in a reloaded mediamtx.yml, read from its own reload code
// (internal/core/core.go closeResources, internal/core/path_manager.go pathConfCanBeUpdated, path.go doReloadConf;
// tag v1.20.1). Every global key restarts something: a logger, auth-manager, metrics or path-manager restart
// cascades into every protocol server, and closing the path manager closes the path with its publisher and readers.
// Only the recording keys of a path are applied in place. Pure data + pure functions; no I/O.

/** Who a restart drops: everyone on the path, the sessions of one server, or no media session. */
export type Audience = 'everyone' | 'rtmp' | 'rtsp' | 'srt' | 'webrtc' | 'hls' | 'none';

export interface KeyReload {
  /** hot: applied in place; server-restart: servers are closed and recreated; path-restart: the path is. */
  class: 'hot' | 'server-restart' | 'path-restart';
  drops: Audience;
  /** What restarts, in a user's words. */
  restarts: string;
}

const everything = (why: string): KeyReload => ({
  class: 'server-restart',
  drops: 'everyone',
  restarts: `every MediaMTX server (${why})`,
});
const server = (name: Exclude<Audience, 'everyone' | 'none'>, label = name.toUpperCase()): KeyReload => ({
  class: 'server-restart',
  drops: name,
  restarts: `the ${label} server`,
});
const listener = (name: string): KeyReload => ({
  class: 'server-restart',
  drops: 'none',
  restarts: `the ${name} listener`,
});

export const GLOBAL_RELOAD: Record<string, KeyReload> = {
  logLevel: everything('logger and path manager'),
  logDestinations: everything('logger'),
  logStructured: everything('logger'),
  readTimeout: everything('auth manager and path manager'),
  writeTimeout: everything('metrics and path manager'),
  authMethod: everything('auth manager'),
  authHTTPAddress: everything('auth manager'),
  authHTTPExclude: everything('auth manager'),
  metrics: everything('metrics and path manager'),
  metricsAddress: everything('metrics and path manager'),
  rtspEncryption: everything('path manager'),
  rtspAddress: everything('path manager'),
  api: listener('API'),
  apiAddress: listener('API'),
  pprof: listener('pprof'),
  playback: listener('playback'),
  playbackAddress: listener('playback'),
  playbackEncryption: listener('playback'),
  playbackServerKey: listener('playback'),
  playbackServerCert: listener('playback'),
  playbackAllowOrigins: listener('playback'),
  rtsp: server('rtsp'),
  rtspTransports: server('rtsp'),
  rtspAuthMethods: server('rtsp'),
  // closeRTSPSServer alone (the plain RTSP server does not compare them).
  rtspsAddress: server('rtsp', 'RTSPS'),
  rtspServerKey: server('rtsp', 'RTSPS'),
  rtspServerCert: server('rtsp', 'RTSPS'),
  rtmp: server('rtmp'),
  // closeRTMPServer and closeRTMPSServer both compare it: the plain and the TLS listener restart.
  rtmpEncryption: server('rtmp', 'RTMP and RTMPS'),
  rtmpAddress: server('rtmp'),
  // closeRTMPSServer alone.
  rtmpsAddress: server('rtmp', 'RTMPS'),
  rtmpServerKey: server('rtmp', 'RTMPS'),
  rtmpServerCert: server('rtmp', 'RTMPS'),
  hls: server('hls'),
  hlsAddress: server('hls'),
  hlsEncryption: server('hls'),
  hlsServerKey: server('hls'),
  hlsServerCert: server('hls'),
  hlsAllowOrigins: server('hls'),
  hlsVariant: server('hls'),
  hlsSegmentCount: server('hls'),
  hlsSegmentDuration: server('hls'),
  hlsPartDuration: server('hls'),
  webrtc: server('webrtc'),
  webrtcAddress: server('webrtc'),
  webrtcEncryption: server('webrtc'),
  webrtcServerKey: server('webrtc'),
  webrtcServerCert: server('webrtc'),
  webrtcAllowOrigins: server('webrtc'),
  webrtcLocalUDPAddress: server('webrtc'),
  webrtcLocalTCPAddress: server('webrtc'),
  webrtcIPsFromInterfaces: server('webrtc'),
  webrtcAdditionalHosts: server('webrtc'),
  srt: server('srt'),
  srtAddress: server('srt'),
  moq: listener('MoQ'),
};

const pathRestart: KeyReload = { class: 'path-restart', drops: 'everyone', restarts: 'the stream’s path' };
const recorder: KeyReload = { class: 'hot', drops: 'none', restarts: 'the recorder (a new segment begins)' };

export const PATH_RELOAD: Record<string, KeyReload> = {
  source: pathRestart,
  overridePublisher: pathRestart,
  record: recorder,
  recordPath: recorder,
  recordFormat: recorder,
  recordSegmentDuration: recorder,
  recordDeleteAfter: recorder,
  // Not in pathConfCanBeUpdated (internal/core/path_manager.go): the path is recreated.
  alwaysAvailable: pathRestart,
  alwaysAvailableTracks: pathRestart,
};

export interface ConfigChange extends KeyReload {
  key: string;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The keys whose values differ between the running and the desired config, each with what its reload does.
 * A key missing from the tables is treated as restarting everything: unknown means assume the worst.
 */
export function configChanges(running: Record<string, unknown>, desired: Record<string, unknown>): ConfigChange[] {
  const out: ConfigChange[] = [];
  for (const key of new Set([...Object.keys(running), ...Object.keys(desired)])) {
    if (key === 'paths' || same(running[key], desired[key])) continue;
    out.push({ key, ...(GLOBAL_RELOAD[key] ?? everything('unclassified key')) });
  }
  const rp = (running.paths ?? {}) as Record<string, Record<string, unknown>>;
  const dp = (desired.paths ?? {}) as Record<string, Record<string, unknown>>;
  for (const name of new Set([...Object.keys(rp), ...Object.keys(dp)])) {
    const [r, d] = [rp[name], dp[name]];
    if (!r || !d) {
      if (r) out.push({ key: `paths.${name}`, ...pathRestart });
      continue;
    }
    for (const key of new Set([...Object.keys(r), ...Object.keys(d)])) {
      if (same(r[key], d[key])) continue;
      out.push({ key: `paths.${name}.${key}`, ...(PATH_RELOAD[key] ?? pathRestart) });
    }
  }
  return out;
}

/** Who is connected now, as MediaMTX's control API reports it (source and reader types). */
export interface Sessions {
  /** The publisher's session type (rtmpConn, rtspSession, srtConn, webRTCSession, ...), if one is online. */
  publisher?: string;
  readers: string[];
}

const AUDIENCE_OF_TYPE: Record<string, Audience> = {
  rtmpConn: 'rtmp',
  rtmpsConn: 'rtmp',
  rtspSession: 'rtsp',
  rtspsSession: 'rtsp',
  srtConn: 'srt',
  webRTCSession: 'webrtc',
  hlsMuxer: 'hls',
};

/**
 * The sessions the changes would drop, in words ("the publisher and 3 readers"), or undefined when nobody
 * connected would notice. A dropped publisher takes every reader of the path with it.
 */
export function whoWouldDrop(changes: ConfigChange[], now: Sessions): string | undefined {
  const hit = new Set(changes.map((c) => c.drops));
  const droppedBy = (type: string) => hit.has('everyone') || hit.has(AUDIENCE_OF_TYPE[type] ?? 'everyone');
  if (now.publisher && droppedBy(now.publisher)) return sessionsInWords(true, now.readers.length);
  const readers = now.readers.filter(droppedBy).length;
  return readers ? sessionsInWords(false, readers) : undefined;
}

const sessionsInWords = (publisher: boolean, readers: number) =>
  [publisher ? 'the publisher' : '', readers ? `${readers} reader${readers === 1 ? '' : 's'}` : '']
    .filter(Boolean)
    .join(' and ');
