// client-go's REST client metrics (k8s.io/client-go/tools/metrics, registered by component-base), under the same
// names and labels, so dashboards and alerts written for Go controllers read ours unchanged.
import { Counter, Histogram, type Registry } from 'prom-client';

export interface RestMetrics {
  /** One attempt: its status code ('<error>' when no response came back) and the time to response headers. */
  request(method: string, host: string, code: string, seconds: number): void;
  /** An attempt that will be retried (429, or 5xx with Retry-After). */
  retry(method: string, host: string, code: string): void;
}

/** Get-or-create: several clients may share one registry. */
function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function restClientMetrics(registry: Registry): RestMetrics {
  const registers = [registry];
  const requests = metric(
    registry,
    'rest_client_requests_total',
    () =>
      new Counter({
        name: 'rest_client_requests_total',
        help: 'Number of HTTP requests, partitioned by status code, method, and host.',
        labelNames: ['code', 'method', 'host'] as const,
        registers,
      }),
  );
  const duration = metric(
    registry,
    'rest_client_request_duration_seconds',
    () =>
      new Histogram({
        name: 'rest_client_request_duration_seconds',
        help: 'Request latency in seconds. Broken down by verb, and host.',
        labelNames: ['verb', 'host'] as const,
        // client-go's buckets.
        buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
        registers,
      }),
  );
  const retries = metric(
    registry,
    'rest_client_request_retries_total',
    () =>
      new Counter({
        name: 'rest_client_request_retries_total',
        help: 'Number of request retries, partitioned by status code, verb, and host.',
        labelNames: ['code', 'verb', 'host'] as const,
        registers,
      }),
  );
  return {
    request(method, host, code, seconds) {
      requests.inc({ code, method, host });
      duration.observe({ verb: method, host }, seconds);
    },
    retry(method, host, code) {
      retries.inc({ code, verb: method, host });
    },
  };
}
