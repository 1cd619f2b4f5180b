// Webhook signatures, Standard Webhooks style (https://www.standardwebhooks.com): three headers,
//   webhook-id: <event id>   webhook-timestamp: <unix seconds>   webhook-signature: v1,<base64 HMAC-SHA256>
// over "<id>.<timestamp>.<body>". The timestamp is inside the signed bytes, so a receiver that rejects old
// timestamps (docs/webhooks.md: 5 minutes) cannot be replayed an old request; the id lets it drop duplicates.
// The key is the signing Secret's bytes as stored (no whsec_ prefix, no base64 decoding on our side).
import { createHmac } from 'node:crypto';

export const ID_HEADER = 'webhook-id';
export const TIMESTAMP_HEADER = 'webhook-timestamp';
export const SIGNATURE_HEADER = 'webhook-signature';

export function sign(key: Buffer | string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** The headers of one attempt: signed again on every attempt (a fresh timestamp), the body and id are the same. */
export function signedHeaders(key: Buffer | string, id: string, body: string, nowMs = Date.now()) {
  const timestamp = Math.floor(nowMs / 1000);
  return {
    [ID_HEADER]: id,
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: sign(key, id, timestamp, body),
  };
}
