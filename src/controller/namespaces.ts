// --watch-namespaces: one informer per watched namespace for each kind, behind the single-informer surface the
// controller and the reconciler use. With namespaced Roles only (chart value watchNamespaces), a cluster-wide
// list is forbidden; these informers never ask for one.
import type { Handler, Informer } from './informer.ts';

type Meta = { metadata: { namespace?: string; name: string } };

/** `/api/v1/configmaps` in namespace `ns` -> `/api/v1/namespaces/ns/configmaps` (any all-namespaces path). */
export function namespacedPath(path: string, namespace: string): string {
  const i = path.lastIndexOf('/');
  return `${path.slice(0, i)}/namespaces/${encodeURIComponent(namespace)}${path.slice(i)}`;
}

const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const NAMESPACE = new RegExp(`^${LABEL}$`);
const SUBDOMAIN = new RegExp(`^${LABEL}(\\.${LABEL})*$`);

/** Parses `a,b , c` into unique, non-empty names (order kept); throws naming a bad one. */
function parseNames(value: string, valid: (s: string) => boolean, what: string): string[] {
  const out: string[] = [];
  for (const raw of value.split(',')) {
    const n = raw.trim();
    if (!n) continue;
    if (!valid(n)) throw new Error(`"${n}" is not ${what}`);
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** Namespace names (DNS labels: lowercase letters, digits and '-', at most 63). */
export const parseNamespaces = (value: string) =>
  parseNames(
    value,
    (n) => NAMESPACE.test(n) && n.length <= 63,
    "a namespace name (lowercase letters, digits and '-', at most 63)",
  );

/** Object names such as Secrets (DNS subdomains, at most 253). */
export const parseObjectNames = (value: string) =>
  parseNames(value, (n) => SUBDOMAIN.test(n) && n.length <= 253, 'an object name (a DNS subdomain)');

/** The informers of several namespaces as one: reads go to the namespace's own informer, handlers to all. */
export class NamespacedInformers<T extends Meta> {
  readonly name: string;
  private readonly byNamespace: Map<string, Informer<T>>;

  constructor(name: string, parts: Map<string, Informer<T>>) {
    this.name = name;
    this.byNamespace = parts;
  }

  /** Built from a factory that makes the informer of one collection path. */
  static of<T extends Meta>(
    name: string,
    path: string,
    namespaces: string[],
    make: (path: string) => Informer<T>,
  ): Informer<T> {
    const parts = new Map(namespaces.map((ns) => [ns, make(namespacedPath(path, ns))] as const));
    return new NamespacedInformers<T>(name, parts) as unknown as Informer<T>;
  }

  private get parts(): Informer<T>[] {
    return [...this.byNamespace.values()];
  }

  get synced(): boolean {
    return this.parts.every((p) => p.synced);
  }

  /** The oldest of the parts' last successes: one stuck namespace is enough to fail /livez. */
  get lastSuccess(): number {
    return Math.min(...this.parts.map((p) => p.lastSuccess));
  }

  get store(): Map<string, T> {
    return new Map(this.parts.flatMap((p) => [...p.store]));
  }

  on(handler: Handler<T>): void {
    for (const p of this.parts) p.on(handler);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return namespace === undefined ? undefined : this.byNamespace.get(namespace)?.get(namespace, name);
  }

  list(): T[] {
    return this.parts.flatMap((p) => p.list());
  }

  start(): void {
    for (const p of this.parts) p.start();
  }

  stop(): void {
    for (const p of this.parts) p.stop();
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.waitForSync()));
  }
}
