// The sidecar's two HTTP servers: the hook MediaMTX calls (loopback only) and /metrics + health for kubelet
// and Prometheus. Each is a fastify instance with its own plugins, so neither can see the other's routes.
import fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { type AuthRequest, AuthRequestSchema } from './contract.ts';
import { type Decision, decide } from './decide.ts';
import { MAX_BODY_BYTES } from './request.ts';
import type { AuthStateStore, ReloadEvent } from './state.ts';

export function authMetrics(registry = new Registry()) {
  // The standard process_* and nodejs_* names, as every Node.js exporter has them: the sidecar's own are told apart
  // by the scrape's target labels (container="auth", the auth-metrics endpoint), not by a prefix.
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    decisions: new Counter({
      name: 'vstream_auth_decisions_total',
      help: 'Authentication decisions by MediaMTX action, protocol, result and reason.',
      labelNames: ['action', 'protocol', 'result', 'reason'] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'vstream_auth_decision_seconds',
      help: 'Time to decide one request, from parsed body to decision.',
      labelNames: ['action'] as const,
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers: [registry],
    }),
    reloads: new Counter({
      name: 'vstream_auth_key_reloads_total',
      help: 'Reloads of the config and secret files by source and result; a failed reload keeps the last good value.',
      labelNames: ['source', 'result'] as const,
      registers: [registry],
    }),
  };
}
export type AuthMetrics = ReturnType<typeof authMetrics>;

export const recordReload = (m: AuthMetrics) => (e: ReloadEvent) =>
  m.reloads.inc({ source: e.source, result: e.ok ? 'ok' : 'error' });

/** POST /auth, as MediaMTX calls it. Decisions are logged without any credential: no token, password or query. */
export function hookServer(store: AuthStateStore, metrics: AuthMetrics, log: Logger): FastifyInstance {
  const app = fastify({
    bodyLimit: MAX_BODY_BYTES,
    logger: false,
    return503OnClosing: true,
    // No type coercion: a number where MediaMTX sends a string is a malformed request, not a string.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  const denyMalformed = (reason: string) => {
    metrics.decisions.inc({ action: 'unknown', protocol: 'unknown', result: 'deny', reason });
    return reason;
  };
  app.setErrorHandler((err: { statusCode?: number }, _req, reply) => {
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 400;
    const reason = denyMalformed(status === 413 ? 'body_too_large' : 'malformed_request');
    log.info({ decision: 'deny', reason }, 'auth');
    void reply.code(status).send();
  });
  app.setNotFoundHandler((_req, reply) => void reply.code(404).send());
  // Label children resolved once per label set: every value comes from the schema's enums or a fixed set of
  // reasons, so the maps stay small, and the hot path skips prom-client's per-call label hashing.
  const decisionChildren = new Map<string, { inc(): void }>();
  const decisionOf = (action: string, protocol: string, result: string, reason: string) => {
    const k = `${action}\0${protocol}\0${result}\0${reason}`;
    let c = decisionChildren.get(k);
    if (!c) {
      c = metrics.decisions.labels(action, protocol, result, reason);
      decisionChildren.set(k, c);
    }
    return c;
  };
  const latencyChildren = new Map<string, { observe(v: number): void }>();
  const latencyOf = (action: string) => {
    let h = latencyChildren.get(action);
    if (!h) {
      h = metrics.latency.labels(action);
      latencyChildren.set(action, h);
    }
    return h;
  };
  const failed = (e: unknown): Decision => {
    // Deny what we cannot decide; the error text never includes the request.
    log.error({ error: (e as Error).message }, 'decision failed');
    return { allow: false, status: 401, reason: 'internal_error' };
  };
  const finish = (body: AuthRequest, d: Decision, start: number, reply: FastifyReply) => {
    latencyOf(body.action).observe((performance.now() - start) / 1000);
    decisionOf(body.action, body.protocol || 'none', d.allow ? 'allow' : 'deny', d.reason).inc();
    // Allows at debug: MediaMTX already logs every session it starts (path, remote address, protocol). Denials at
    // info: only the sidecar knows why, and that is what an operator chasing a failed login needs.
    const level = d.allow ? 'debug' : 'info';
    if (log.isLevelEnabled(level))
      log[level](
        {
          decision: d.allow ? 'allow' : 'deny',
          reason: d.reason,
          action: body.action,
          // The path is client-chosen (a URL path); log it only when it is the stream's own, never arbitrary text.
          path: body.path === store.state.config.path || body.path === '' ? body.path : '(other)',
          ip: body.ip,
          protocol: body.protocol,
          id: body.id,
        },
        'auth',
      );
    void reply.code(d.status).send();
  };
  // Not an async handler: opaque-token decisions are synchronous and answer without a promise; JWTs await jose.
  app.post<{ Body: AuthRequest }>('/auth', { schema: { body: AuthRequestSchema } }, (req, reply) => {
    const start = performance.now();
    const body = req.body;
    let r: Decision | Promise<Decision>;
    try {
      r = decide(body, store.state);
    } catch (e) {
      r = failed(e);
    }
    if (r instanceof Promise) r.catch(failed).then((d) => finish(body, d, start, reply));
    else finish(body, r, start, reply);
  });
  return app;
}

export function opsServer(store: AuthStateStore, metrics: AuthMetrics): FastifyInstance {
  const app = fastify({ logger: false });
  app.get('/metrics', async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get('/healthz', async () => ({ status: 'ok' }));
  // /startz: the hook can decide (every secret loaded). kubelet's startup probe of the native sidecar asks it, and
  // starts MediaMTX only then. /readyz adds what needs MediaMTX running (the restream destinations handed over), so
  // the Service sends streamers only to a pod where nothing is still about to change MediaMTX's configuration.
  app.get('/startz', async (_req, reply) =>
    store.ready ? { status: 'started' } : reply.code(503).send({ status: 'not started', problems: store.problems }),
  );
  app.get('/readyz', async (_req, reply) => {
    const waiting = store.readyWhen.map((f) => f()).filter((w): w is string => Boolean(w));
    return store.ready && !waiting.length
      ? { status: 'ready' }
      : reply.code(503).send({
          status: 'not ready',
          problems: { ...store.problems, ...(waiting.length ? { waiting: waiting.join('; ') } : {}) },
        });
  });
  return app;
}
