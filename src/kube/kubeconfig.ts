// Kubeconfig files, read and merged the way kubectl does (k8s.io/client-go/tools/clientcmd): pure functions, no I/O
// beyond what the caller hands in.
//
// Merge rules ("Merging kubeconfig files" in the kubectl docs): files are taken in order; for each named cluster,
// user and context the first file that defines the name wins (the whole entry, not field by field); the first
// non-empty current-context wins. Relative file references are resolved against the directory of the file that
// holds them before merging, so an entry means the same thing whichever file it came from.
import { dirname, isAbsolute, join, sep } from 'node:path';
import { parse } from 'yaml';

export interface KubeconfigCluster {
  server: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
  'proxy-url'?: string;
}

export interface ExecConfig {
  command: string;
  args?: string[];
  env?: { name: string; value: string }[];
  apiVersion?: string;
  [k: string]: unknown;
}

export interface KubeconfigUser {
  token?: string;
  tokenFile?: string;
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  username?: string;
  password?: string;
  exec?: ExecConfig;
  'auth-provider'?: { name: string; config?: Record<string, string> };
}

export interface KubeconfigContext {
  cluster: string;
  user: string;
  namespace?: string;
}

export interface KubeconfigFile {
  clusters?: { name: string; cluster: KubeconfigCluster }[] | null;
  users?: { name: string; user: KubeconfigUser }[] | null;
  contexts?: { name: string; context: KubeconfigContext }[] | null;
  'current-context'?: string;
}

export interface MergedKubeconfig {
  clusters: Map<string, KubeconfigCluster>;
  users: Map<string, KubeconfigUser>;
  contexts: Map<string, KubeconfigContext>;
  currentContext?: string;
  /** The files merged, in order (for error messages). */
  files: string[];
}

/** The context in use, with its cluster and user; every file reference absolute. */
export interface SelectedContext {
  name: string;
  cluster: KubeconfigCluster;
  user: KubeconfigUser;
  namespace?: string;
}

export function parseKubeconfig(path: string, text: string): KubeconfigFile {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new Error(`kubeconfig ${path}: not YAML: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`kubeconfig ${path}: not a mapping`);
  return resolvePaths(doc as KubeconfigFile, dirname(path));
}

const abs = (base: string, p: string | undefined) => (p && !isAbsolute(p) ? join(base, p) : p);

/** kubectl's ResolveLocalPaths: file references relative to the kubeconfig's directory; a bare command stays on $PATH. */
function resolvePaths(cfg: KubeconfigFile, base: string): KubeconfigFile {
  const set = <T extends object, K extends keyof T>(o: T, k: K) => {
    const v = o[k];
    if (typeof v === 'string' && v) (o as Record<K, unknown>)[k] = abs(base, v);
  };
  for (const c of cfg.clusters ?? []) if (c?.cluster) set(c.cluster, 'certificate-authority');
  for (const u of cfg.users ?? []) {
    if (!u?.user) continue;
    for (const k of ['client-certificate', 'client-key', 'tokenFile'] as const) set(u.user, k);
    const exec = u.user.exec;
    if (exec?.command?.includes(sep) || exec?.command?.includes('/')) set(exec, 'command');
  }
  return cfg;
}

export function mergeKubeconfigs(files: { path: string; config: KubeconfigFile }[]): MergedKubeconfig {
  const merged: MergedKubeconfig = {
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
    files: files.map((f) => f.path),
  };
  for (const { config } of files) {
    for (const c of config.clusters ?? [])
      if (c?.name && !merged.clusters.has(c.name)) merged.clusters.set(c.name, c.cluster);
    for (const u of config.users ?? [])
      if (u?.name && !merged.users.has(u.name)) merged.users.set(u.name, u.user ?? {});
    for (const c of config.contexts ?? [])
      if (c?.name && !merged.contexts.has(c.name)) merged.contexts.set(c.name, c.context);
    merged.currentContext ||= config['current-context'] || undefined;
  }
  return merged;
}

export function selectContext(merged: MergedKubeconfig, contextName = merged.currentContext): SelectedContext {
  const where = `kubeconfig ${merged.files.join(':')}`;
  if (!contextName) throw new Error(`${where}: no current-context is set`);
  const context = merged.contexts.get(contextName);
  if (!context) throw new Error(`${where}: context "${contextName}" not found`);
  const cluster = merged.clusters.get(context.cluster);
  if (!cluster) throw new Error(`${where}: cluster "${context.cluster}" (of context "${contextName}") not found`);
  if (!cluster.server) throw new Error(`${where}: cluster "${context.cluster}" has no server`);
  // A context without a user sends anonymous requests; a context naming a user that does not exist is an error
  // (kubectl's validation says the same).
  const user = context.user ? merged.users.get(context.user) : {};
  if (!user) throw new Error(`${where}: user "${context.user}" (of context "${contextName}") not found`);
  return { name: contextName, cluster, user, ...(context.namespace ? { namespace: context.namespace } : {}) };
}

/** True when the user's credentials come from a plugin that only @kubernetes/client-node knows how to run. */
export const needsPlugin = (u: KubeconfigUser) => Boolean(u.exec || u['auth-provider']);
