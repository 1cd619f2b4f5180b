// `kubectl vstream` commands. Every read goes through the user's own kubeconfig and RBAC: a token is printed only
// after the API server handed its Secret to this user, so the plugin never shows what `kubectl get secret` would not.
import { API_VERSION, type Condition, type LiveStream, PLURAL, resolveSpec } from '../api/livestream.ts';
import { HttpMethod, type Kube, KubeError, resourcePath } from '../kube/rest.ts';
import { lines } from '../net/http.ts';
import { names } from '../render/names.ts';
import { parseSigningKey, signViewerToken } from '../token/viewer.ts';

/** An error whose message is for the user as it is (no stack, exit code 1). */
export class PluginError extends Error {}

export type Out = (line: string) => void;

export interface Target {
  namespace: string;
  name: string;
}

const streamPath = (t: Target) => resourcePath(API_VERSION, 'LiveStream', t.namespace, t.name);

export async function getStream(kube: Kube, t: Target): Promise<LiveStream> {
  try {
    return await kube.get<LiveStream>(streamPath(t));
  } catch (e) {
    if (e instanceof KubeError && e.status === 404)
      throw new PluginError(
        `LiveStream ${t.namespace}/${t.name} not found (kubectl get livestreams -n ${t.namespace})`,
      );
    if (e instanceof KubeError && e.status === 403)
      throw new PluginError(`you may not read LiveStream ${t.namespace}/${t.name}: ${e.reason}`);
    throw e;
  }
}

/**
 * A key of a Secret, read with the user's credentials. Forbidden is an answer, not a failure to work around: the
 * message says how to check, and nothing is printed.
 */
export async function readSecretKey(kube: Kube, namespace: string, name: string, key: string, what: string) {
  let secret: { data?: Record<string, string> };
  try {
    secret = await kube.get<{ data?: Record<string, string> }>(resourcePath('v1', 'Secret', namespace, name));
  } catch (e) {
    if (e instanceof KubeError && e.status === 403)
      throw new PluginError(
        `you may not read Secret ${namespace}/${name}, which holds ${what}, so it is not shown. ` +
          `Check with: kubectl auth can-i get secret/${name} -n ${namespace} (the built-in edit and admin roles can; view cannot)`,
      );
    if (e instanceof KubeError && e.status === 404)
      throw new PluginError(`Secret ${namespace}/${name} (${what}) does not exist yet: see kubectl vstream status`);
    throw e;
  }
  const raw = secret.data?.[key];
  if (!raw) throw new PluginError(`Secret ${namespace}/${name} has no key "${key}" (${what})`);
  // Several tokens, one a line, during a rotation: the first is the current one.
  const first = Buffer.from(raw, 'base64').toString('utf8').split(/\r?\n/)[0]?.trim();
  if (!first) throw new PluginError(`Secret ${namespace}/${name} key "${key}" is empty`);
  return first;
}

export type IngestProtocol = 'rtmp' | 'srt' | 'webrtc' | 'rtsp';

/** `obs`: what a streamer pastes into OBS (or another encoder) for one ingest protocol. */
export async function obs(kube: Kube, t: Target, out: Out, protocol?: IngestProtocol): Promise<void> {
  const ls = await getStream(kube, t);
  const ingest = ls.status?.ingest;
  const available = (['rtmp', 'webrtc', 'srt', 'rtsp'] as const).filter((p) => ingest?.[p]);
  if (!ingest || !available.length)
    throw new PluginError(
      `LiveStream ${t.namespace}/${t.name} has no ingest address yet (phase ${ls.status?.phase ?? 'Pending'}): see kubectl vstream status ${t.name} -n ${t.namespace}`,
    );
  const p = protocol ?? available[0]!;
  if (!ingest[p])
    throw new PluginError(`LiveStream ${t.namespace}/${t.name} has no ${p} ingest (it has: ${available.join(', ')})`);
  const ref = {
    name: ingest.publishTokenSecretRef?.name ?? names(t.name).publishSecret,
    key: ingest.publishTokenSecretRef?.key ?? 'token',
  };
  const token = await readSecretKey(kube, t.namespace, ref.name, ref.key, 'the publish token');
  const path = ls.status?.path ?? resolveSpec(t.name, ls.spec).path;
  out(`LiveStream ${t.namespace}/${t.name} (${ls.status?.phase ?? 'Pending'}), ${p} ingest:`);
  out('');
  switch (p) {
    case 'rtmp':
      out('  OBS: Settings > Stream > Service: Custom...');
      out(`    Server       ${ingest.rtmp!.server}`);
      out(`    Stream Key   ${ingest.rtmp!.streamKey}?token=${token}`);
      out('  (leave "Use authentication" off: MediaMTX reads RTMP credentials from the stream key only)');
      break;
    case 'webrtc':
      out('  OBS (30 or later): Settings > Stream > Service: WHIP');
      out(`    Server         ${ingest.webrtc}`);
      out(`    Bearer Token   ${token}`);
      break;
    case 'srt': {
      // MediaMTX's SRT stream id: action:path:user:pass (the sidecar checks the password; the user is free).
      const url = new URL(ingest.srt!);
      url.searchParams.set('streamid', `publish:${path}:publisher:${token}`);
      out(`  SRT URL   ${decodeURIComponent(url.toString())}`);
      out(`  ffmpeg    ffmpeg -re -i input.mp4 -c copy -f mpegts '${decodeURIComponent(url.toString())}'`);
      break;
    }
    case 'rtsp': {
      const url = new URL(ingest.rtsp!);
      url.username = 'publisher';
      url.password = token;
      out(`  RTSP URL  ${url.toString()}`);
      break;
    }
  }
  out('');
  out(`The token is the publish token from Secret ${t.namespace}/${ref.name}: anyone with it can publish.`);
}

const age = (iso: string | undefined, now: number) => {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
};

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd(),
  );
}

/** The status of one LiveStream as lines: phase, live, viewers, conditions, endpoints. */
export function describeStatus(ls: LiveStream, now = Date.now()): string[] {
  const s = ls.status;
  const lines: string[] = [];
  const gen = ls.metadata.generation;
  const observed = s?.observedGeneration;
  lines.push(
    `LiveStream ${ls.metadata.namespace}/${ls.metadata.name}   phase ${s?.phase ?? 'Pending'}   live ${s?.live ? 'yes' : 'no'}   viewers ${s?.viewers ?? 0}` +
      (gen !== undefined && observed !== gen
        ? `   (spec generation ${gen} not yet observed: ${observed ?? 'none'})`
        : ''),
  );
  const conditions = (s?.conditions ?? []) as Condition[];
  if (conditions.length) {
    lines.push('', 'Conditions:');
    for (const l of table([
      ['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'],
      ...conditions.map((c) => [c.type, c.status, c.reason, age(c.lastTransitionTime, now), c.message ?? '']),
    ]))
      lines.push(`  ${l}`);
  }
  const ingest = s?.ingest;
  const rows: string[][] = [];
  if (ingest?.rtmp) rows.push(['rtmp', `${ingest.rtmp.server}   stream key ${ingest.rtmp.streamKey}?token=<token>`]);
  if (ingest?.srt) rows.push(['srt', `${ingest.srt}:publisher:<token>`]);
  if (ingest?.rtsp) rows.push(['rtsp', ingest.rtsp]);
  if (ingest?.webrtc) rows.push(['webrtc', `${ingest.webrtc}   (WHIP, Bearer <token>)`]);
  if (rows.length) {
    lines.push('', 'Ingest:');
    for (const [p, v] of rows) lines.push(`  ${p!.padEnd(7)} ${v}`);
    if (ingest?.publishTokenSecretRef)
      lines.push(
        `  <token>: Secret ${ls.metadata.namespace}/${ingest.publishTokenSecretRef.name} key ${ingest.publishTokenSecretRef.key} (kubectl vstream obs ${ls.metadata.name})`,
      );
  }
  const playback = Object.entries(s?.playback ?? {}).filter(([, v]) => v);
  if (playback.length) {
    lines.push('', 'Playback:');
    for (const [p, v] of playback) lines.push(`  ${p.padEnd(7)} ${v}`);
  }
  if (s?.recording?.claimName) lines.push('', `Recordings: PersistentVolumeClaim ${s.recording.claimName}`);
  return lines;
}

/** `status`: once, or again on every change of the LiveStream until the signal aborts (`--watch`). */
export async function status(
  kube: Kube,
  t: Target,
  out: Out,
  opts: { watch?: boolean; signal?: AbortSignal; now?: () => number } = {},
): Promise<void> {
  const now = opts.now ?? Date.now;
  let ls = await getStream(kube, t);
  for (const l of describeStatus(ls, now())) out(l);
  if (!opts.watch) return;
  let rv = ls.metadata.resourceVersion ?? '';
  const collection = `/apis/${API_VERSION}/namespaces/${encodeURIComponent(t.namespace)}/${PLURAL}`;
  while (!opts.signal?.aborted) {
    let res: Awaited<ReturnType<Kube['raw']>>;
    try {
      res = await kube.raw(HttpMethod.GET, collection, {
        query: {
          watch: true,
          fieldSelector: `metadata.name=${t.name}`,
          resourceVersion: rv,
          allowWatchBookmarks: true,
          timeoutSeconds: 300,
        },
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (e) {
      if (opts.signal?.aborted) return;
      throw e;
    }
    if (res.status === 410) {
      ls = await getStream(kube, t);
      rv = ls.metadata.resourceVersion ?? '';
      continue;
    }
    if (!res.ok) {
      res.cancel();
      throw new PluginError(`watching LiveStream ${t.namespace}/${t.name}: HTTP ${res.status}`);
    }
    try {
      for await (const line of lines(res.body)) {
        if (!line) continue;
        const ev = JSON.parse(line) as { type: string; object: LiveStream & { code?: number } };
        if (ev.type === 'ERROR') break;
        rv = ev.object.metadata?.resourceVersion ?? rv;
        if (ev.type === 'BOOKMARK') continue;
        out('');
        if (ev.type === 'DELETED') {
          out(`LiveStream ${t.namespace}/${t.name} was deleted`);
          return;
        }
        out(`--- ${new Date(now()).toISOString()}`);
        for (const l of describeStatus(ev.object, now())) out(l);
      }
    } catch (e) {
      if (opts.signal?.aborted) return;
      throw e;
    } finally {
      res.cancel(); // a watch left on an ERROR event would otherwise hold its connection until the server ends it
    }
  }
}

/** `token viewer`: a viewer JWT signed with the user's own key (a local file), and where to play with it. */
export async function viewerToken(
  kube: Kube,
  t: Target,
  out: Out,
  o: { keyText: string; ttlSeconds: number; alg?: string; subject?: string },
): Promise<void> {
  const ls = await getStream(kube, t);
  const spec = resolveSpec(t.name, ls.spec);
  if (spec.playback.access !== 'jwt' || !spec.playback.jwt)
    throw new PluginError(`LiveStream ${t.namespace}/${t.name} has public playback: viewers need no token`);
  const key = await parseSigningKey(o.keyText, o.alg);
  const token = await signViewerToken({
    paths: [spec.path],
    issuer: spec.playback.jwt.issuer,
    audience: spec.playback.jwt.audience ?? 'vstream',
    ttlSeconds: o.ttlSeconds,
    ...(o.subject ? { subject: o.subject } : {}),
    key,
  });
  out(token);
  const hls = ls.status?.playback?.hls;
  if (hls) {
    out('');
    out(`HLS (players that cannot send headers): ${hls}?jwt=${token}`);
    out(`curl -L -H 'Authorization: Bearer ${token}' '${hls}'`);
  }
}

/**
 * `recordings url`: a URL that plays a recorded range (MediaMTX's playback server /get, an fMP4 file), with a fresh
 * viewer token in it for `jwt` streams (signed like `token viewer`, with the user's own key).
 */
export async function recordingsUrl(
  kube: Kube,
  t: Target,
  out: Out,
  o: { start?: string; durationSeconds: number; keyText?: string; ttlSeconds: number; alg?: string },
): Promise<void> {
  const ls = await getStream(kube, t);
  const spec = resolveSpec(t.name, ls.spec);
  if (!spec.recording.enabled)
    throw new PluginError(`LiveStream ${t.namespace}/${t.name} does not record (spec.recording.enabled is false)`);
  const base = ls.status?.recording?.playbackURL;
  if (!base)
    throw new PluginError(
      `LiveStream ${t.namespace}/${t.name} has no status.recording.playbackURL yet (its address is not known)`,
    );
  const start = o.start ?? ls.status?.recording?.oldest;
  if (!start) throw new PluginError('--start is required (status.recording.oldest is not known yet)');
  if (Number.isNaN(Date.parse(start))) throw new PluginError(`--start must be an RFC 3339 time, got "${start}"`);
  const q = new URLSearchParams({
    path: spec.path,
    start: new Date(Date.parse(start)).toISOString(),
    duration: String(o.durationSeconds),
    format: 'fmp4',
  });
  if (spec.playback.access === 'jwt' && spec.playback.jwt) {
    if (!o.keyText)
      throw new PluginError('--key FILE is required: the stream needs a viewer JWT (signed with your private key)');
    const token = await signViewerToken({
      paths: [spec.path],
      issuer: spec.playback.jwt.issuer,
      audience: spec.playback.jwt.audience ?? 'vstream',
      ttlSeconds: o.ttlSeconds,
      key: await parseSigningKey(o.keyText, o.alg),
    });
    q.set('jwt', token);
  }
  out(`${base}/get?${q}`);
  const r = ls.status?.recording;
  if (r?.oldest && r.newest) out(`(recorded: ${r.oldest} to ${r.newest}; list: ${base}/list?path=${spec.path})`);
}

/** Where a stream's MediaMTX control API answers, and how to close the way there. */
export interface ApiTunnel {
  base: string;
  close(): Promise<void>;
}
export type OpenApi = (t: Target) => Promise<ApiTunnel>;

/** `recordings list`: the stream's recording segments, from MediaMTX's control API (behind the sidecar). */
export async function recordingsList(kube: Kube, t: Target, out: Out, openApi: OpenApi): Promise<void> {
  const ls = await getStream(kube, t);
  const spec = resolveSpec(t.name, ls.spec);
  if (!spec.recording.enabled && !ls.status?.recording?.claimName)
    throw new PluginError(`LiveStream ${t.namespace}/${t.name} does not record (spec.recording.enabled is false)`);
  const apiToken = await readSecretKey(
    kube,
    t.namespace,
    names(t.name).internalSecret,
    'api-token',
    "the stream's MediaMTX API token",
  );
  const tunnel = await openApi(t);
  try {
    const res = await fetch(`${tunnel.base}/v3/recordings/get/${spec.path}`, {
      headers: { authorization: `Bearer ${apiToken}` },
      signal: AbortSignal.timeout(15_000),
    });
    if (res.status === 404) {
      await res.body?.cancel();
      out(`No recordings of ${t.namespace}/${t.name} yet.`);
      return;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new PluginError(`MediaMTX answered ${res.status} for the recordings of ${t.namespace}/${t.name}`);
    }
    const body = (await res.json()) as { segments?: { start: string }[] };
    const starts = (body.segments ?? []).map((s) => s.start).sort();
    if (!starts.length) {
      out(`No recordings of ${t.namespace}/${t.name} yet.`);
      return;
    }
    const rows = starts.map((start, i) => {
      const next = starts[i + 1];
      const secs = next ? Math.round((Date.parse(next) - Date.parse(start)) / 1000) : undefined;
      return [start, secs === undefined ? (ls.status?.live ? 'recording' : '-') : `${secs}s`];
    });
    for (const l of table([['START', 'LENGTH (until the next segment)'], ...rows])) out(l);
    out('');
    out(
      `${starts.length} segment(s) in PersistentVolumeClaim ${ls.status?.recording?.claimName ?? names(t.name).recordings}`,
    );
  } finally {
    await tunnel.close();
  }
}
