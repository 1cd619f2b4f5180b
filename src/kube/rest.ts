// A small untyped REST client over node:https (../net/http.ts says why not undici), with connections from ./config.ts.
// Why not the generated clients: their ObjectSerializer drops every field it has no model for (CRD defaults,
// x-kubernetes-* extensions) and rewrites timestamps into Dates, so what we apply would not be what we rendered,
// and SSA on /status needs the apply-patch content type they do not pick.
// Every request carries User-Agent vstream/<version> (the API server's audit log and APF flow distinguisher);
// 429s and 5xx with Retry-After are retried after the time the server asks for, for requests safe to repeat; each
// attempt is counted in client-go's rest_client_* metrics when a registry is given.
import type { IncomingMessage } from 'node:http';
import type { Registry } from 'prom-client';
import { request as httpRequest } from '../net/http.ts';
import { VERSION } from '../version.ts';
import { type Connection, type LoadOptions, loadConnection, loadConnectionSync } from './config.ts';
import { type RestMetrics, restClientMetrics } from './metrics.ts';
import { isRetryable, retryAfterMs } from './retry.ts';

export const USER_AGENT = `vstream/${VERSION}`;

export const HttpMethod = { GET: 'GET', POST: 'POST', PUT: 'PUT', PATCH: 'PATCH', DELETE: 'DELETE' } as const;
export type HttpMethod = (typeof HttpMethod)[keyof typeof HttpMethod];

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
    managedFields?: unknown[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface ObjectList {
  metadata: { resourceVersion: string; continue?: string };
  items: KubeObject[];
}

/** A failed API call. The message carries the API server's reason and message, never the request body. */
export class KubeError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

export const isNotFound = (e: unknown) => e instanceof KubeError && e.status === 404;
export const isConflict = (e: unknown) => e instanceof KubeError && e.status === 409;

const PLURALS: Record<string, string> = {
  ConfigMap: 'configmaps',
  Secret: 'secrets',
  Service: 'services',
  Deployment: 'deployments',
  PersistentVolumeClaim: 'persistentvolumeclaims',
  PersistentVolume: 'persistentvolumes',
  Pod: 'pods',
  LiveStream: 'livestreams',
  Lease: 'leases',
  Event: 'events',
  Namespace: 'namespaces',
  CustomResourceDefinition: 'customresourcedefinitions',
};

/** /api/v1/namespaces/ns/configmaps[/name] or /apis/group/version/... for a kind we know. */
export function resourcePath(apiVersion: string, kind: string, namespace?: string, name?: string): string {
  const plural = PLURALS[kind];
  if (!plural) throw new Error(`no plural known for kind ${kind}`);
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return `${base}${namespace ? `/namespaces/${namespace}` : ''}/${plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

export const objectPath = (o: KubeObject) => resourcePath(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name);

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

/** An answer whose body has not been read: a watch's stream of lines, or a body to read as text. */
export interface RawResponse {
  status: number;
  statusText: string;
  ok: boolean;
  header(name: string): string | undefined;
  body: IncomingMessage;
  text(): Promise<string>;
  /** Drops the body and its connection (a stream nobody will read to its end). */
  cancel(): void;
}

export interface KubeOptions {
  /** Where client-go's rest_client_* metrics go. */
  registry?: Registry;
  /** Retries of a request the server asked to retry (429, 5xx with Retry-After). Default 5. */
  maxRetries?: number;
  /** For tests: how to wait before a retry. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', aborted);
    };
    const aborted = () => {
      done();
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    signal?.addEventListener('abort', aborted);
  });

export class Kube {
  readonly server: string;
  /** Count of mutating requests sent, retries included (tests and benchmarks read it). */
  writes = 0;

  private readonly conn: Connection;
  private readonly host: string;
  private readonly metrics?: RestMetrics;
  private readonly maxRetries: number;
  private readonly sleep: NonNullable<KubeOptions['sleep']>;

  constructor(conn: Connection, opts: KubeOptions = {}) {
    this.conn = conn;
    this.server = conn.server;
    this.host = new URL(conn.server).host;
    if (opts.registry) this.metrics = restClientMetrics(opts.registry);
    this.maxRetries = opts.maxRetries ?? 5;
    this.sleep = opts.sleep ?? sleep;
  }

  /**
   * From a kubeconfig file, else $KUBECONFIG (every file, merged like kubectl), else in-cluster, else
   * ~/.kube/config.
   */
  static async load(file?: string, opts: KubeOptions & LoadOptions = {}): Promise<Kube> {
    return new Kube(await loadConnection(file, opts), opts);
  }

  /** The same, for kubeconfigs that need no exec plugin (tests, local clusters). */
  static loadSync(file?: string, opts: KubeOptions & LoadOptions = {}): Kube {
    const conn = loadConnectionSync(file, opts);
    if (!conn) throw new Error('this kubeconfig needs an exec plugin or auth provider: use Kube.load');
    return new Kube(conn, opts);
  }

  /** The namespace of the kubeconfig context (or the ServiceAccount's in-cluster), when there is one. */
  get namespace(): string | undefined {
    return this.conn.namespace;
  }

  /** Where the connection came from ("in-cluster", or the kubeconfig files and context), for logs. */
  get source(): string {
    return this.conn.source;
  }

  url(path: string, query?: RequestOptions['query']): string {
    const u = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  async raw(method: HttpMethod | 'HEAD', path: string, opts: RequestOptions = {}): Promise<RawResponse> {
    const url = this.url(path, opts.query);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const contentType = body === undefined ? undefined : (opts.contentType ?? 'application/json');
    const retryable = isRetryable(method, contentType);
    for (let attempt = 0; ; attempt++) {
      const creds = await this.conn.credentials();
      const headers: Record<string, string> = {
        ...creds.headers,
        accept: 'application/json',
        'user-agent': USER_AGENT,
      };
      if (contentType) headers['content-type'] = contentType;
      if (method !== HttpMethod.GET && method !== 'HEAD') this.writes++;
      const sentAt = performance.now();
      let res: Awaited<ReturnType<typeof httpRequest>>;
      try {
        res = await httpRequest(url, {
          method,
          headers,
          ...(body !== undefined ? { body } : {}),
          agent: creds.agent,
          signal: opts.signal ?? AbortSignal.timeout(30_000),
        });
      } catch (e) {
        this.metrics?.request(method, this.host, '<error>', (performance.now() - sentAt) / 1000);
        throw e;
      }
      const status = res.statusCode;
      this.metrics?.request(method, this.host, String(status), (performance.now() - sentAt) / 1000);
      if (status === 401) creds.rejected?.();
      const header = (name: string) => {
        const v = res.headers[name.toLowerCase()];
        return Array.isArray(v) ? v.join(', ') : v;
      };
      const wait =
        retryable && attempt < this.maxRetries ? retryAfterMs(status, header('retry-after') ?? null) : undefined;
      if (wait === undefined) {
        const { body: b } = res;
        return {
          status,
          statusText: res.statusMessage,
          ok: status >= 200 && status < 300,
          header,
          body: b.stream,
          text: () => b.text(),
          cancel: () => b.stream.destroy(),
        };
      }
      this.metrics?.retry(method, this.host, String(status));
      await res.body.dump({ limit: 1 << 16 }); // frees the connection for the next attempt
      await this.sleep(wait, opts.signal);
    }
  }

  async request<T>(method: HttpMethod, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, path, opts);
    const text = await res.text();
    if (!res.ok) {
      let reason = res.statusText;
      let message = text.slice(0, 2000);
      try {
        const status = JSON.parse(text) as { reason?: string; message?: string };
        reason = status.reason ?? reason;
        message = status.message ?? message;
      } catch {}
      throw new KubeError(res.status, reason, `${method} ${path}: ${res.status} ${reason}: ${message}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T = KubeObject>(path: string, query?: RequestOptions['query']) {
    return this.request<T>(HttpMethod.GET, path, { query });
  }

  async getOrUndefined<T = KubeObject>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  list(path: string, query?: RequestOptions['query']) {
    return this.request<ObjectList>(HttpMethod.GET, path, { query });
  }

  create<T = KubeObject>(obj: KubeObject, query?: RequestOptions['query']) {
    const path = resourcePath(obj.apiVersion, obj.kind, obj.metadata.namespace);
    return this.request<T>(HttpMethod.POST, path, { body: obj, query });
  }

  delete(path: string, query?: RequestOptions['query']) {
    return this.request<unknown>(HttpMethod.DELETE, path, { query });
  }

  /** Server-side apply of a whole object, or of its status when subresource is 'status'. */
  apply<T = KubeObject>(obj: KubeObject, fieldManager: string, opts: { force?: boolean; subresource?: 'status' } = {}) {
    const path = objectPath(obj) + (opts.subresource ? `/${opts.subresource}` : '');
    return this.request<T>(HttpMethod.PATCH, path, {
      body: obj,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager, force: opts.force ?? true, fieldValidation: 'Strict' },
    });
  }

  mergePatch<T = KubeObject>(path: string, body: unknown) {
    return this.request<T>(HttpMethod.PATCH, path, { body, contentType: 'application/merge-patch+json' });
  }
}
