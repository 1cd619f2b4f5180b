// Kubeconfig loading for the controller's hot path. @kubernetes/client-node's KubeConfig imports its whole
// generated API (≈ 90 MB of resident memory, measured) even to read a kubeconfig, so the common cases are handled
// here: in-cluster ServiceAccount, and kubeconfig files with token, token file, client certificate or
// insecure-skip-tls-verify. Anything else (exec plugins, auth providers) is delegated to client-node, loaded only
// then.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { Agent, type Dispatcher } from 'undici';
import { parse } from 'yaml';

export interface Connection {
  server: string;
  dispatcher: Dispatcher;
  /** Headers for a request (the bearer token is re-read when it comes from a file, as bound tokens rotate). */
  headers(): Promise<Record<string, string>>;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface NamedCluster {
  name: string;
  cluster: {
    server: string;
    'certificate-authority'?: string;
    'certificate-authority-data'?: string;
    'insecure-skip-tls-verify'?: boolean;
    'tls-server-name'?: string;
  };
}
interface NamedUser {
  name: string;
  user: {
    token?: string;
    tokenFile?: string;
    'client-certificate'?: string;
    'client-certificate-data'?: string;
    'client-key'?: string;
    'client-key-data'?: string;
    username?: string;
    password?: string;
    exec?: unknown;
    'auth-provider'?: unknown;
  };
}
interface KubeconfigFile {
  clusters?: NamedCluster[];
  users?: NamedUser[];
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  'current-context'?: string;
}

/** Resolves a connection: an explicit file, then in-cluster, then $KUBECONFIG, then ~/.kube/config. */
export async function loadConnection(file?: string): Promise<Connection> {
  return loadConnectionSync(file) ?? viaClientNode(kubeconfigPath(file));
}

const kubeconfigPath = (file?: string) =>
  file ?? process.env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config');

/** The same without client-node: undefined when the kubeconfig needs an exec plugin or auth provider. */
export function loadConnectionSync(file?: string): Connection | undefined {
  if (!file && process.env.KUBERNETES_SERVICE_HOST && existsSync(join(SA_DIR, 'token'))) return inCluster();
  return fromKubeconfig(kubeconfigPath(file));
}

function inCluster(): Connection {
  const host = process.env.KUBERNETES_SERVICE_HOST!;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const tokenFile = join(SA_DIR, 'token');
  return {
    server,
    dispatcher: new Agent({ connect: { ca: readFileSync(join(SA_DIR, 'ca.crt')) } }),
    headers: async () => ({ authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` }),
  };
}

function fromKubeconfig(path: string): Connection | undefined {
  const cfg = parse(readFileSync(path, 'utf8')) as KubeconfigFile;
  const ctxName = cfg['current-context'];
  const ctx = cfg.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new Error(`kubeconfig ${path}: current-context "${ctxName ?? ''}" not found`);
  const cluster = cfg.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  const user = cfg.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (!cluster) throw new Error(`kubeconfig ${path}: cluster "${ctx.cluster}" not found`);
  if (user.exec || user['auth-provider']) return undefined;
  const base = dirname(path);
  const file = (p: string) => readFileSync(isAbsolute(p) ? p : join(base, p));
  const data = (d?: string, f?: string) => (d ? Buffer.from(d, 'base64') : f ? file(f) : undefined);
  const ca = data(cluster['certificate-authority-data'], cluster['certificate-authority']);
  const cert = data(user['client-certificate-data'], user['client-certificate']);
  const key = data(user['client-key-data'], user['client-key']);
  const dispatcher = new Agent({
    connect: {
      ...(ca ? { ca } : {}),
      ...(cert && key ? { cert, key } : {}),
      ...(cluster['insecure-skip-tls-verify'] ? { rejectUnauthorized: false } : {}),
      ...(cluster['tls-server-name'] ? { servername: cluster['tls-server-name'] } : {}),
    },
  });
  const headers = async (): Promise<Record<string, string>> => {
    if (user.token) return { authorization: `Bearer ${user.token}` };
    if (user.tokenFile) return { authorization: `Bearer ${file(user.tokenFile).toString('utf8').trim()}` };
    if (user.username)
      return { authorization: `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}` };
    return {};
  };
  return { server: cluster.server.replace(/\/$/, ''), dispatcher, headers };
}

async function viaClientNode(path: string): Promise<Connection> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  const server = kc.getCurrentCluster()!.server.replace(/\/$/, '');
  const probe = new k8s.RequestContext(server, k8s.HttpMethod.GET);
  await kc.applySecurityAuthentication(probe);
  return {
    server,
    dispatcher: (probe.getDispatcher() as Dispatcher | undefined) ?? new Agent(),
    headers: async () => {
      const ctx = new k8s.RequestContext(server, k8s.HttpMethod.GET);
      await kc.applySecurityAuthentication(ctx);
      return ctx.getHeaders();
    },
  };
}
