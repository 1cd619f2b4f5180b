// Webhook events: CloudEvents 1.0 in structured JSON mode. `type` is io.vstream.<event> (reverse-DNS, as the
// CloudEvents spec recommends); `id` is a hash of the stream's UID, the event type and the transition's anchor
// (the session start for stream.live and stream.offline), so the same transition always has the same id, on every
// retry and on whichever controller replica sends it: receivers dedupe on it.
import { createHash } from 'node:crypto';
import { API_VERSION, type WebhookEventName } from '../api/livestream.ts';

export const TYPE_PREFIX = 'io.vstream.';

/** One detected transition, as the outbox in status keeps it. */
export interface WebhookEvent {
  id: string;
  type: WebhookEventName;
  time: string;
  data?: Record<string, string>;
}

export const eventId = (uid: string, type: WebhookEventName, anchor: string) =>
  createHash('sha256').update(`${uid}\n${type}\n${anchor}`).digest('hex').slice(0, 32);

export interface StreamRef {
  namespace: string;
  name: string;
  uid?: string;
}

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  subject: string;
  datacontenttype: 'application/json';
  data: Record<string, string>;
}

export function cloudEvent(ev: WebhookEvent, stream: StreamRef): CloudEvent {
  return {
    specversion: '1.0',
    id: ev.id,
    source: `/apis/${API_VERSION}/namespaces/${stream.namespace}/livestreams/${stream.name}`,
    type: `${TYPE_PREFIX}${ev.type}`,
    time: ev.time,
    subject: `${stream.namespace}/${stream.name}`,
    datacontenttype: 'application/json',
    data: { namespace: stream.namespace, name: stream.name, ...(stream.uid ? { uid: stream.uid } : {}), ...ev.data },
  };
}

/** The URL as status shows it: no user info, query string or fragment (any of them may carry a token). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
