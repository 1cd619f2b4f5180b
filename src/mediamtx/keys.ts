// The MediaMTX configuration keys the renderer may emit, with the first release that accepts each.
// MediaMTX refuses to start on an unknown key, so every rendered key must be listed here and be accepted by the
// target version; the list was taken from the Conf/Path structs' json tags at every v1.x tag (and is checked
// against a real MediaMTX 1.20.1 by the integration tests, which boot it with every golden config).
export const GLOBAL_KEYS: Record<string, string> = {
  logLevel: '1.0.0',
  logDestinations: '1.0.0',
  logStructured: '1.15.6',
  readTimeout: '1.0.0',
  writeTimeout: '1.0.0',
  authMethod: '1.6.0',
  authHTTPAddress: '1.6.0',
  authHTTPExclude: '1.6.0',
  api: '1.0.0',
  apiAddress: '1.0.0',
  metrics: '1.0.0',
  metricsAddress: '1.0.0',
  pprof: '1.0.0',
  playback: '1.5.0',
  playbackAddress: '1.5.0',
  playbackEncryption: '1.8.0',
  playbackServerKey: '1.8.0',
  playbackServerCert: '1.8.0',
  playbackAllowOrigins: '1.15.4',
  rtsp: '1.0.0',
  rtspTransports: '1.11.0',
  rtspEncryption: '1.11.0',
  rtspAddress: '1.0.0',
  rtspAuthMethods: '1.6.0',
  rtspsAddress: '1.0.0',
  rtspServerKey: '1.11.0',
  rtspServerCert: '1.11.0',
  rtmp: '1.0.0',
  rtmpEncryption: '1.0.0',
  rtmpAddress: '1.0.0',
  rtmpsAddress: '1.0.0',
  rtmpServerKey: '1.0.0',
  rtmpServerCert: '1.0.0',
  hls: '1.0.0',
  hlsAddress: '1.0.0',
  hlsEncryption: '1.0.0',
  hlsServerKey: '1.0.0',
  hlsServerCert: '1.0.0',
  hlsAllowOrigins: '1.15.4',
  hlsVariant: '1.0.0',
  hlsSegmentCount: '1.0.0',
  hlsSegmentDuration: '1.0.0',
  hlsPartDuration: '1.0.0',
  webrtc: '1.0.0',
  webrtcAddress: '1.0.0',
  webrtcEncryption: '1.0.0',
  webrtcServerKey: '1.0.0',
  webrtcServerCert: '1.0.0',
  webrtcAllowOrigins: '1.15.4',
  webrtcLocalUDPAddress: '1.3.0',
  webrtcLocalTCPAddress: '1.3.0',
  webrtcIPsFromInterfaces: '1.3.0',
  webrtcAdditionalHosts: '1.3.0',
  srt: '1.0.0',
  srtAddress: '1.0.0',
  moq: '1.19.0',
  paths: '1.0.0',
};

export const PATH_KEYS: Record<string, string> = {
  source: '1.0.0',
  overridePublisher: '1.0.0',
  record: '1.1.0',
  recordPath: '1.2.0',
  recordFormat: '1.2.0',
  recordSegmentDuration: '1.2.0',
  recordDeleteAfter: '1.2.0',
  alwaysAvailable: '1.16.0',
  alwaysAvailableTracks: '1.16.0',
};

const parse = (v: string) => v.replace(/^v/, '').split('.').map(Number) as [number, number, number];
export function versionAtLeast(have: string, want: string): boolean {
  const [a, b] = [parse(have), parse(want)];
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return true;
}

/** Every key the target version would reject, as "paths.<name>.<key>" or "<key>". Empty means safe to load. */
export function unknownKeys(config: Record<string, unknown>, version: string): string[] {
  const bad: string[] = [];
  for (const [k, v] of Object.entries(config)) {
    const since = GLOBAL_KEYS[k];
    if (!since || !versionAtLeast(version, since)) bad.push(k);
    if (k === 'paths' && v && typeof v === 'object') {
      for (const [name, pathConf] of Object.entries(v as Record<string, Record<string, unknown>>)) {
        for (const pk of Object.keys(pathConf ?? {})) {
          const ps = PATH_KEYS[pk];
          if (!ps || !versionAtLeast(version, ps)) bad.push(`paths.${name}.${pk}`);
        }
      }
    }
  }
  return bad;
}
