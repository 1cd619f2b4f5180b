// The controller's side of spec.enabled and spec.ingest.maxDuration (the sidecar's side: src/auth/session-control.ts).
// auth.json carries both, but a ConfigMap change reaches the pod only after up to about a minute; so on a change of
// spec.enabled the controller tells the sidecar at once (POST /control), and the live loop asks again (GET /control)
// while the stream is switched off or has a limit, pushing again whenever the pod disagrees with the spec (a
// restarted sidecar before kubelet delivered the new auth.json, a push that failed). The endings at the limit the
// sidecar reports become Events.

import type { ControlState, Ending } from '../auth/session-control.ts';
import { CONTROL_PATH } from '../auth/session-control.ts';
import { request } from '../net/http.ts';

export type { ControlState, Ending };

async function call(base: string, token: string, body: unknown, timeoutMs: number): Promise<ControlState> {
  const res = await request(`${base}${CONTROL_PATH}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`auth sidecar answered ${res.statusCode} to ${CONTROL_PATH}`);
  }
  return (await res.body.json()) as ControlState;
}

export const getControl = (base: string, token: string, timeoutMs = 2000) => call(base, token, undefined, timeoutMs);
export const pushControl = (base: string, token: string, enabled: boolean, timeoutMs = 2000) =>
  call(base, token, { enabled }, timeoutMs);

/**
 * What the controller has to do for a stream now. Pure, so each case is a table row:
 *  - push: the sidecar must be told spec.enabled (it was switched off, or back on after being off);
 *  - watch: ask the sidecar how it stands (switched off, or a limit whose endings become Events).
 * A stream that was never switched off and has no limit costs nothing.
 */
export function controlPlan(o: {
  enabled: boolean;
  maxDuration: boolean;
  /** What the sidecar last confirmed, if it was asked in this process. */
  acked: boolean | undefined;
  /** status.phase as written: Disabled survives a controller restart there. */
  phase: string | undefined;
}): { push: boolean; watch: boolean } {
  const push = o.acked !== o.enabled && (!o.enabled || o.acked === false || o.phase === 'Disabled');
  return { push, watch: !o.enabled || o.maxDuration };
}

/**
 * Endings not reported yet. With no memory of the stream (a new controller, a failover), only endings of the last
 * `recentMs` are taken as new: earlier ones were reported by the controller that ran then, or are old news.
 */
export function newEndings(endings: Ending[], lastSeq: number | undefined, now: number, recentMs = 60_000): Ending[] {
  if (lastSeq !== undefined) return endings.filter((e) => e.seq > lastSeq);
  return endings.filter((e) => now - Date.parse(e.endedAt) <= recentMs);
}

export const endingMessage = (e: Ending, limit: string) =>
  `Publish session ${e.id} (${e.type}) was ended at spec.ingest.maxDuration (${limit}): online from ${e.startedAt} to ${e.endedAt}. The streamer may start a new session.`;
