// Restreaming is MediaMTX 1.20's own `forward`: MediaMTX pushes the path's stream, as is, to each destination while
// a publisher is on air and retries a failed one every 5 s (internal/forward/dest_handler.go). No ffmpeg runs, so
// no process anywhere holds a key in its argument list. What is left for vstream, and kept pure here:
//   - the destinations with their keys, built in the auth sidecar from the mounted Secret files (RTMP: the key is
//     the URL fragment, which gortmplib sends only inside the publish command and MediaMTX strips from its log
//     lines; WHIP: the Bearer token field) and handed to MediaMTX over its control API on loopback, so neither the
//     ConfigMap nor status ever holds one;
//   - each target's state from MediaMTX's forward list, with anything that could echo a key taken out.
import type { AuthConfig } from '../auth/contract.ts';

export type RestreamTargetConfig = NonNullable<AuthConfig['restream']>[number];

/** MediaMTX's conf.ForwardDest. */
export interface ForwardDest {
  dest: string;
  destFingerprint?: string;
  whipBearerToken?: string;
}

/** The destination MediaMTX needs for one target, with its key. */
export function forwardDest(t: Pick<RestreamTargetConfig, 'url'>, key: string): ForwardDest {
  if (/^whips?:\/\//.test(t.url)) return { dest: t.url, destFingerprint: '', whipBearerToken: key };
  // gortmplib moves the fragment into the publish command's stream name; the URL it connects with has none.
  return { dest: `${t.url}#${encodeURIComponent(key)}`, destFingerprint: '', whipBearerToken: '' };
}

/** Whether MediaMTX's forward list already is `want` (its API fills absent fields with ""). */
export function sameForward(have: ForwardDest[] | undefined, want: ForwardDest[]): boolean {
  const norm = (l: ForwardDest[]) =>
    l.map((d) => `${d.dest}\0${d.destFingerprint ?? ''}\0${d.whipBearerToken ?? ''}`).join('\n');
  return norm(have ?? []) === norm(want);
}

/** MediaMTX's defs.APIForwardDest (the fields read here). */
export interface ForwardItem {
  pos: number;
  conf?: ForwardDest;
  state: 'idle' | 'forwarding' | 'error';
  lastError?: string;
  outboundBytes?: number;
}

export type TargetState = 'Idle' | 'Connecting' | 'Connected' | 'Retrying';

export interface TargetStatus {
  name: string;
  state: TargetState;
  reason?: string;
  since: string;
}

const MAX_REASON = 256;

/**
 * A reason safe to show: every form of the key removed (a remote's answer may quote the stream name back), URLs
 * reduced to scheme and host, bounded in length.
 */
export function safeReason(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets)
    for (const form of new Set([s, encodeURIComponent(s)])) if (form.length >= 4) out = out.split(form).join('<key>');
  out = out.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^/\s'"]*@)?([^/\s'"#?]+)[^\s'"]*/gi, '$1$3');
  return out.length > MAX_REASON ? `${out.slice(0, MAX_REASON - 1)}…` : out;
}

/** MediaMTX's terse errors, in words a user can act on. */
function explain(error: string): string {
  if (error === '') return 'the target refused or dropped the stream';
  // An RTMP server that does not take the key closes the connection in the middle of the publish.
  if (error === 'EOF')
    return 'the target closed the connection during the publish (EOF): most often a wrong stream key';
  if (/connection refused/.test(error)) return `the target refuses connections: ${error}`;
  return error;
}

/**
 * One target's state from its forward item (undefined when MediaMTX runs none: nobody on air) and the bytes it had
 * sent at the previous look. MediaMTX says `forwarding` from the moment an attempt starts, so media flowing (bytes
 * growing) is what tells Connected from Connecting.
 */
export function targetState(
  item: ForwardItem | undefined,
  previousBytes: number | undefined,
  /** "<Secret>/<key>" when the key file is missing or empty (a Secret or key that does not exist is mounted as nothing). */
  missingKey: string | undefined,
  secrets: string[],
): { state: TargetState; reason?: string } {
  if (missingKey) {
    const [secret, key] = missingKey.split('/');
    return { state: 'Retrying', reason: `Secret ${secret} has no key ${key} (or does not exist)` };
  }
  if (!item || item.state === 'idle') return { state: 'Idle' };
  if (item.state === 'error') return { state: 'Retrying', reason: explain(safeReason(item.lastError ?? '', secrets)) };
  const bytes = item.outboundBytes ?? 0;
  return bytes > 0 && previousBytes !== undefined && bytes > previousBytes
    ? { state: 'Connected' }
    : { state: 'Connecting' };
}
