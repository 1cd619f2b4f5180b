// When a failed API request is sent again. The API server answers 429 when API Priority and Fairness rejects a
// request (before executing it) and sets Retry-After; it sets Retry-After on some 5xx too (shutting down, storage
// timeouts). client-go waits that long and retries; we do the same, for requests that are safe to send twice.

/** Requests whose repetition has the effect of one: reads, PUT/DELETE, server-side apply and JSON merge patches. */
export function isRetryable(method: string, contentType?: string): boolean {
  if (method === 'GET' || method === 'HEAD' || method === 'PUT' || method === 'DELETE') return true;
  return (
    method === 'PATCH' &&
    (contentType === 'application/apply-patch+yaml' || contentType === 'application/merge-patch+json')
  );
}

/** A server's Retry-After is obeyed, but never for longer than this: a bad proxy must not stall us for an hour. */
export const MAX_RETRY_AFTER_MS = 30_000;
/** 429 without Retry-After (not from the API server itself): wait this long. */
export const DEFAULT_RETRY_AFTER_MS = 1_000;

/**
 * How long to wait before retrying a response, or undefined when it is not to be retried: 429 always, 5xx only
 * with Retry-After (seconds, or an HTTP date), as client-go's checkWait.
 */
export function retryAfterMs(status: number, retryAfter: string | null, nowMs = Date.now()): number | undefined {
  if (status !== 429 && status < 500) return undefined;
  const parsed = parseRetryAfter(retryAfter, nowMs);
  if (parsed === undefined) return status === 429 ? DEFAULT_RETRY_AFTER_MS : undefined;
  return Math.min(parsed, MAX_RETRY_AFTER_MS);
}

function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
