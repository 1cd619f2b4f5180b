// Where the API server is and how to authenticate, resolved like client tools do.
//
// Order (controller-runtime's GetConfig, which is kubectl's with in-cluster placed before the home file): an explicit
// --kubeconfig file; else every file $KUBECONFIG lists, merged by kubectl's rules (./kubeconfig.ts); else the
// in-cluster ServiceAccount; else ~/.kube/config.
//
// @kubernetes/client-node's KubeConfig imports its whole generated API (≈ 90 MB of resident memory, measured) even
// to read a kubeconfig, so it is loaded only for users that need it: exec credential plugins and auth providers.
// Everything else (token, token file, client certificate, basic auth, CA, insecure-skip-tls-verify, tls-server-name,
// an http(s) proxy-url) is handled here.
import { existsSync, readFileSync } from 'node:fs';
import type { Agent } from 'node:http';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { http, https } from '../net/node-http.ts';
import {
  type KubeconfigCluster,
  type KubeconfigUser,
  mergeKubeconfigs,
  needsPlugin,
  parseKubeconfig,
  type SelectedContext,
  selectContext,
} from './kubeconfig.ts';
import { TokenFile } from './token-file.ts';

export interface Credentials {
  headers: Record<string, string>;
  /** Connections to the API server: its TLS settings (and client certificate), keep-alive, a proxy. */
  agent: Agent;
  /** The server answered 401 to these credentials: obtain fresh ones (re-read the token file, re-run the plugin). */
  rejected?: () => void;
}

export interface Connection {
  server: string;
  /** Where it came from, for logs: "in-cluster" or "kubeconfig <files> context <name>". */
  source: string;
  /** The namespace of the context, or the ServiceAccount's namespace in-cluster. */
  namespace?: string;
  /** What to send a request with. Cheap: token files are re-read at most once a minute, plugin output is cached. */
  credentials(): Promise<Credentials>;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  home?: string;
  serviceAccountDir?: string;
  /** Monotonic ms, for the token file's re-read period. */
  now?: () => number;
  /** A token file that cannot be re-read (the last good token is kept). */
  onTokenError?: (error: Error) => void;
  /** The kubeconfig context to use instead of current-context (kubectl --context). */
  context?: string;
}

export type Source = { kind: 'kubeconfig'; files: string[] } | { kind: 'in-cluster'; host: string; port: string };

/** Which configuration to use; throws, naming what was tried, when there is none. */
export function resolveSource(file?: string, o: LoadOptions = {}): Source {
  if (file) {
    if (!existsSync(file)) throw new Error(`kubeconfig ${file}: no such file`);
    return { kind: 'kubeconfig', files: [file] };
  }
  const env = o.env ?? process.env;
  if (env.KUBECONFIG) {
    // kubectl skips entries that do not exist (and empty ones); we also refuse a $KUBECONFIG that names nothing.
    const listed = [...new Set(env.KUBECONFIG.split(delimiter).filter(Boolean))];
    const files = listed.filter((f) => existsSync(f));
    if (!files.length) throw new Error(`$KUBECONFIG lists no file that exists (${listed.join(delimiter)})`);
    return { kind: 'kubeconfig', files };
  }
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host && port && existsSync(join(o.serviceAccountDir ?? SERVICE_ACCOUNT_DIR, 'token')))
    return { kind: 'in-cluster', host, port };
  const home = join(o.home ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return { kind: 'kubeconfig', files: [home] };
  throw new Error(
    'no Kubernetes configuration: give --kubeconfig, set $KUBECONFIG, run in a pod with a ServiceAccount, or create ~/.kube/config',
  );
}

/** Reads and merges the files of a kubeconfig source and selects its current context. */
export function selectFromFiles(files: string[], context?: string): SelectedContext {
  const parsed = files.map((path) => ({ path, config: parseKubeconfig(path, readFileSync(path, 'utf8')) }));
  const merged = mergeKubeconfigs(parsed);
  return selectContext(merged, context ?? merged.currentContext);
}

/** Resolves and opens a connection (loading client-node only for exec plugins and auth providers). */
export async function loadConnection(file?: string, o: LoadOptions = {}): Promise<Connection> {
  const source = resolveSource(file, o);
  if (source.kind === 'in-cluster') return inCluster(source, o);
  const selected = selectFromFiles(source.files, o.context);
  const label = describe(source.files, selected);
  return needsPlugin(selected.user) ? viaClientNode(selected, label) : fromContext(selected, label, o);
}

/** The same without client-node: undefined when the user needs an exec plugin or an auth provider. */
export function loadConnectionSync(file?: string, o: LoadOptions = {}): Connection | undefined {
  const source = resolveSource(file, o);
  if (source.kind === 'in-cluster') return inCluster(source, o);
  const selected = selectFromFiles(source.files, o.context);
  return needsPlugin(selected.user) ? undefined : fromContext(selected, describe(source.files, selected), o);
}

const describe = (files: string[], s: SelectedContext) => `kubeconfig ${files.join(delimiter)} context ${s.name}`;

function inCluster(source: { host: string; port: string }, o: LoadOptions): Connection {
  const dir = o.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = source.host.includes(':') ? `[${source.host}]` : source.host;
  const token = tokenFile(join(dir, 'token'), o);
  token.get(); // fail at start, not at the first request, when it cannot be read
  const agent = new https.Agent({ ...POOL, ca: readFileSync(join(dir, 'ca.crt')) });
  const nsFile = join(dir, 'namespace');
  const namespace = existsSync(nsFile) ? readFileSync(nsFile, 'utf8').trim() : undefined;
  return {
    server: `https://${host}:${source.port}`,
    source: 'in-cluster',
    ...(namespace ? { namespace } : {}),
    credentials: async () => {
      const t = token.get();
      return { headers: { authorization: `Bearer ${t}` }, agent, rejected: () => token.invalidate(t) };
    },
  };
}

const tokenFile = (path: string, o: LoadOptions) =>
  new TokenFile(path, {
    read: (p) => readFileSync(p, 'utf8'),
    ...(o.now ? { now: o.now } : {}),
    ...(o.onTokenError ? { onError: o.onTokenError } : {}),
  });

const fileOrData = (data?: string, file?: string) =>
  data ? Buffer.from(data, 'base64') : file ? readFileSync(file) : undefined;

/**
 * Keep-alive connections; one that sat idle for 30 s is closed by us, before the API server's own idle limit (90 s)
 * can close it under a request. A watch in progress is not idle and is not cut.
 */
const POOL = { keepAlive: true, timeout: 30_000 } as const;

/**
 * The connection pool for the cluster: TLS settings, with a client certificate when one is given (a plugin's may
 * replace the file's), and the cluster's proxy-url (CONNECT tunnels for https servers), by Node's own agents.
 */
function agentFor(cluster: KubeconfigCluster, cert?: string | Buffer, key?: string | Buffer): Agent {
  const proxy = cluster['proxy-url'];
  if (proxy && !/^https?:\/\//.test(proxy))
    throw new Error(`proxy-url ${proxy}: only http and https proxies are supported`);
  const proxyEnv = proxy ? { proxyEnv: { HTTP_PROXY: proxy, HTTPS_PROXY: proxy } } : {};
  if (new URL(cluster.server).protocol === 'http:') return new http.Agent({ ...POOL, ...proxyEnv });
  const ca = fileOrData(cluster['certificate-authority-data'], cluster['certificate-authority']);
  return new https.Agent({
    ...POOL,
    ...proxyEnv,
    ...(ca ? { ca } : {}),
    ...(cert && key ? { cert, key } : {}),
    ...(cluster['insecure-skip-tls-verify'] ? { rejectUnauthorized: false } : {}),
    ...(cluster['tls-server-name'] ? { servername: cluster['tls-server-name'] } : {}),
  });
}

/** The credentials of a user without a plugin. client-go's precedence: a token, else a token file, else basic auth. */
function userCredentials(user: KubeconfigUser, o: LoadOptions): () => Omit<Credentials, 'agent'> {
  if (user.token) {
    const h = { headers: { authorization: `Bearer ${user.token}` } };
    return () => h;
  }
  if (user.tokenFile) {
    const file = tokenFile(user.tokenFile, o);
    file.get();
    return () => {
      const t = file.get();
      return { headers: { authorization: `Bearer ${t}` }, rejected: () => file.invalidate(t) };
    };
  }
  if (user.username) {
    const h = {
      headers: { authorization: `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}` },
    };
    return () => h;
  }
  return () => ({ headers: {} });
}

function fromContext(s: SelectedContext, source: string, o: LoadOptions): Connection {
  const { user, cluster } = s;
  const agent = agentFor(
    cluster,
    fileOrData(user['client-certificate-data'], user['client-certificate']),
    fileOrData(user['client-key-data'], user['client-key']),
  );
  const auth = userCredentials(user, o);
  return {
    server: cluster.server.replace(/\/$/, ''),
    source,
    ...(s.namespace ? { namespace: s.namespace } : {}),
    credentials: async () => ({ ...auth(), agent }),
  };
}

/**
 * Exec plugins and auth providers through client-node's authenticators (its ExecAuth caches a credential until its
 * expirationTimestamp). TLS stays ours; a client certificate the plugin returns gets its own agent.
 */
async function viaClientNode(s: SelectedContext, source: string): Promise<Connection> {
  const k8s = await import('@kubernetes/client-node');
  const make = () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      // Only the credentials are taken from client-node; skipTLSVerify merely stops it refusing an http:// server
      // while it builds an agent we never use.
      clusters: [{ name: 'c', server: s.cluster.server, skipTLSVerify: true }],
      users: [{ name: 'u', exec: s.user.exec, authProvider: s.user['auth-provider'] }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return { kc };
  };
  let current = make();
  const fileCert = fileOrData(s.user['client-certificate-data'], s.user['client-certificate']);
  const fileKey = fileOrData(s.user['client-key-data'], s.user['client-key']);
  let tls = { cert: fileCert as string | Buffer | undefined, agent: agentFor(s.cluster, fileCert, fileKey) };
  return {
    server: s.cluster.server.replace(/\/$/, ''),
    source,
    ...(s.namespace ? { namespace: s.namespace } : {}),
    credentials: async () => {
      const opts: { headers?: Record<string, string>; cert?: string | Buffer; key?: string | Buffer } = { headers: {} };
      const used = current;
      await used.kc.applyToHTTPSOptions(opts as never);
      if (opts.cert && opts.key && opts.cert !== fileCert && String(opts.cert) !== String(tls.cert)) {
        // The previous agent is dropped, not destroyed: requests in flight finish, and its idle connections close
        // after POOL's idle time.
        tls = { cert: opts.cert, agent: agentFor(s.cluster, opts.cert, opts.key) };
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = String(v);
      // A fresh KubeConfig has an empty credential cache: after a 401 the next request runs the plugin again
      // (client-go does the same), once however many requests were refused with the same credential.
      const rejected = () => {
        if (current === used) current = make();
      };
      return { headers, agent: tls.agent, rejected };
    },
  };
}
