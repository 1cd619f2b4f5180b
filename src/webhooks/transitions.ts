// Which webhook events a status write is: a pure comparison of the status as stored and the one being written.
// Deriving events from the persisted status (not from what this process remembers) is what makes them once per
// transition across controller replicas: a new leader compares against what the old one wrote, so a transition the
// old leader recorded is not seen again, and one it did not record is seen by the new one.
import { Reason as R, ConditionType as T } from '../api/conditions.ts';
import type { LiveStreamStatus } from '../api/livestream.ts';
import { eventId, type WebhookEvent } from './event.ts';

const condition = (s: LiveStreamStatus | undefined, type: string) => s?.conditions?.find((c) => c.type === type);

/** When the current publish session started: the Live condition's transition to True (reconnects keep it). */
export const sessionStart = (s: LiveStreamStatus | undefined) => {
  const c = condition(s, T.Live);
  return s?.live && c?.status === 'True' ? c.lastTransitionTime : undefined;
};

/** A failure that needs someone (not a stream still starting): phase Failed, or a rollout past its deadline. */
export const failure = (s: LiveStreamStatus | undefined) => {
  if (!s) return undefined;
  const ready = condition(s, T.Ready);
  if (s.phase === 'Failed' || ready?.reason === R.ProgressDeadlineExceeded)
    return ready?.status === 'False' ? ready : undefined;
  return undefined;
};

export function eventsBetween(
  old: LiveStreamStatus | undefined,
  next: LiveStreamStatus,
  uid: string,
  now: string,
): WebhookEvent[] {
  const events: WebhookEvent[] = [];
  const before = sessionStart(old);
  const after = sessionStart(next);
  if (before && before !== after) {
    const reason = condition(next, T.Live)?.reason ?? 'Unknown';
    events.push({
      id: eventId(uid, 'stream.offline', before),
      type: 'stream.offline',
      time: now,
      data: { sessionStart: before, reason },
    });
  }
  if (after && after !== before)
    events.push({
      id: eventId(uid, 'stream.live', after),
      type: 'stream.live',
      time: after,
      data: { sessionStart: after },
    });
  const f = failure(next);
  const was = failure(old);
  if (f && (!was || was.reason !== f.reason))
    events.push({
      id: eventId(uid, 'stream.failed', `${f.lastTransitionTime}/${f.reason}`),
      type: 'stream.failed',
      time: now,
      data: { reason: f.reason, message: f.message.slice(0, 1024) },
    });
  return events;
}
