// A list+watch cache that keeps itself alive. client-node's informer stops on any non-410 error and reports
// "started" even when the first list failed; this one relists on 410, restarts with jittered backoff after any
// error, asks for bookmarks so restarts resume cheaply, and exposes `synced` and the time of its last success for
// /readyz and /livez.
import type { Logger } from 'pino';
import { HttpMethod, type Kube, type KubeObject } from '../kube/rest.ts';
import { lines } from '../net/http.ts';
import { sharedInterner } from './intern.ts';

export type EventType = 'add' | 'update' | 'delete';
export type Handler<T> = (type: EventType, obj: T, old?: T) => void;

export interface InformerOptions<T> {
  name: string;
  /** Collection path, e.g. /apis/vstream.io/v1alpha1/livestreams (all namespaces). */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Shrinks what is cached (e.g. drop Secret values); applied to every object before it is stored. */
  transform?: (o: KubeObject) => T;
  watchTimeoutSeconds?: number;
}

/** Objects per LIST page; client-go's pager default. */
export const LIST_PAGE_SIZE = 500;

const key = (o: { metadata: { namespace?: string; name: string } }) =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

export class Informer<T extends { metadata: KubeObject['metadata'] } = KubeObject> {
  readonly store = new Map<string, T>();
  synced = false;
  lastSuccess = 0;
  private resourceVersion = '';
  private handlers: Handler<T>[] = [];
  private stopped = false;
  private abort?: AbortController;
  private failures = 0;
  private readonly kube: Kube;
  private readonly opts: InformerOptions<T>;
  private readonly log: Logger;
  private syncWaiters: (() => void)[] = [];

  constructor(kube: Kube, opts: InformerOptions<T>, log: Logger) {
    this.kube = kube;
    this.opts = opts;
    this.log = log.child({ informer: opts.name });
  }

  get name(): string {
    return this.opts.name;
  }

  on(handler: Handler<T>): void {
    this.handlers.push(handler);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  start(): void {
    void this.run();
  }

  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.syncWaiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private transform(o: KubeObject): T {
    // managedFields are often the largest part of an object and nothing here reads them.
    if (o.metadata?.managedFields) delete o.metadata.managedFields;
    return sharedInterner.value(this.opts.transform ? this.opts.transform(o) : (o as unknown as T));
  }

  private emit(type: EventType, obj: T, old?: T) {
    for (const h of this.handlers) {
      try {
        h(type, obj, old);
      } catch (e) {
        this.log.error({ error: (e as Error).message }, 'event handler failed');
      }
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist();
        await this.watch();
        this.failures = 0;
      } catch (e) {
        if (this.stopped) return;
        const gone = (e as { status?: number }).status === 410;
        if (gone) this.resourceVersion = '';
        this.failures++;
        const delay = gone ? 0 : Math.min(30_000, 250 * 2 ** Math.min(this.failures, 7)) * (0.5 + Math.random() / 2);
        this.log.warn({ error: (e as Error).message, retryInMs: Math.round(delay) }, 'list/watch failed; restarting');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /**
   * A full list in pages of LIST_PAGE_SIZE, as client-go's reflector pages: the peak memory of a relist is one
   * page's JSON and objects, not the whole collection's (at 1 000 streams a single Deployment list body is several
   * MiB, parsed all at once). The pages are one consistent snapshot; an expired continue token (410) restarts the
   * list from the beginning.
   */
  private async relist(): Promise<void> {
    const seen = new Set<string>();
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const list = await this.kube.list(this.opts.path, {
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        limit: LIST_PAGE_SIZE,
        continue: cont,
      });
      for (const raw of list.items) {
        const obj = this.transform(raw);
        const k = key(obj);
        seen.add(k);
        const old = this.store.get(k);
        this.store.set(k, obj);
        if (!old) this.emit('add', obj);
        else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('update', obj, old);
      }
      resourceVersion = list.metadata.resourceVersion;
      cont = list.metadata.continue || undefined;
    } while (cont && !this.stopped);
    for (const [k, old] of this.store) {
      if (!seen.has(k)) {
        this.store.delete(k);
        this.emit('delete', old);
      }
    }
    this.resourceVersion = resourceVersion;
    this.lastSuccess = Date.now();
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async watch(): Promise<void> {
    this.abort = new AbortController();
    const timeout = this.opts.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 60);
    // The server ends the watch after timeoutSeconds; a silent connection is cut a little later.
    const idle = setTimeout(() => this.abort?.abort(), (timeout + 30) * 1000);
    try {
      const res = await this.kube.raw(HttpMethod.GET, this.opts.path, {
        query: {
          watch: true,
          allowWatchBookmarks: true,
          resourceVersion: this.resourceVersion,
          timeoutSeconds: timeout,
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
        },
        signal: this.abort.signal,
      });
      if (res.status === 410) {
        res.cancel();
        throw Object.assign(new Error('resource version too old'), { status: 410 });
      }
      if (!res.ok) {
        res.cancel();
        throw Object.assign(new Error(`watch: HTTP ${res.status}`), { status: res.status });
      }
      this.lastSuccess = Date.now();
      for await (const line of lines(res.body)) {
        if (!line) continue;
        const ev = JSON.parse(line) as { type: string; object: KubeObject & { code?: number } };
        this.lastSuccess = Date.now();
        if (ev.type === 'ERROR') {
          throw Object.assign(new Error(`watch error: ${String((ev.object as { message?: string }).message)}`), {
            status: ev.object.code,
          });
        }
        const rv = ev.object.metadata?.resourceVersion;
        if (ev.type === 'BOOKMARK') {
          if (rv) this.resourceVersion = rv;
          continue;
        }
        const obj = this.transform(ev.object);
        const k = key(obj);
        const old = this.store.get(k);
        if (ev.type === 'DELETED') {
          this.store.delete(k);
          this.emit('delete', obj, old);
        } else {
          this.store.set(k, obj);
          this.emit(old ? 'update' : 'add', obj, old);
        }
        if (rv) this.resourceVersion = rv;
      }
    } catch (e) {
      if ((e as Error).name === 'AbortError' && !this.stopped) return; // idle cut: just re-watch
      throw e;
    } finally {
      clearTimeout(idle);
      this.abort.abort(); // a watch left on an ERROR event would otherwise hold its connection until the server ends it
    }
  }
}
