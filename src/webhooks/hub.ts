// What the controller knows about each stream's webhooks, and the outbox that makes a transition survive a leader
// change. The order for every event:
//   1. a status write detects it (./transitions.ts) and writes it into status.webhooks[i].pending, in the same
//      write that records the transition (status.live, the Live condition);
//   2. only after that write succeeded is it queued for delivery (./queue.ts);
//   3. its outcome (delivered, or given up on) removes it from pending, in a later, coalesced status write.
// A new leader adopts status.webhooks as it finds them and queues what is still pending: an event detected and not
// delivered is not lost, and one delivered and acknowledged is not sent again. Between 2 and 3 (one status write)
// a leader that dies leaves an event that the new one sends again, with the same id (./event.ts): receivers dedupe.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { LiveStream, LiveStreamStatus, WebhookEventName } from '../api/livestream.ts';
import { WEBHOOK_EVENTS } from '../api/livestream.ts';
import { type Kube, resourcePath } from '../kube/rest.ts';
import { cloudEvent, redactUrl, type WebhookEvent } from './event.ts';
import { DeliveryQueue, type Outcome, type QueueOptions } from './queue.ts';

type WebhookStatus = NonNullable<LiveStreamStatus['webhooks']>[number];
type Spec = NonNullable<LiveStream['spec']['webhooks']>[number];

/** Non-final outcomes (a failed attempt that will be retried) reach status at most this often across all streams. */
export const FAILURE_WRITES_PER_SECOND = 2;
/** Outcomes that arrive together (several webhooks, one stream) are written as one status update. */
export const COALESCE_MS = 100;
const KEY_CACHE_MS = 30_000;

interface StreamState {
  /** Full URLs (with query) of the spec the entries were aligned to: a changed URL starts a fresh entry. */
  urls: string[];
  entries: WebhookStatus[];
}

export interface HubOptions extends Omit<QueueOptions, 'onOutcome'> {
  kube: Pick<Kube, 'getOrUndefined'>;
  log: Logger;
  /** Asks for a status write of the stream (the reconciler coalesces and writes from the freshest state). */
  onChange: (key: string) => Promise<void>;
  registry?: Registry;
}

const keyOf = (ls: Pick<LiveStream, 'metadata'>) => `${ls.metadata.namespace}/${ls.metadata.name}`;

export class WebhookHub {
  private readonly streams = new Map<string, StreamState>();
  private readonly queue: DeliveryQueue;
  private readonly opts: HubOptions;
  private readonly keys = new Map<string, { at: number; key?: Buffer; problem?: string }>();
  private readonly writeSoon = new Map<string, NodeJS.Timeout>();
  private failureTokens = { tokens: 10, at: 0 };
  private active = false;

  constructor(opts: HubOptions) {
    this.opts = opts;
    this.queue = new DeliveryQueue({ ...opts, onOutcome: (o) => this.outcome(o) });
  }

  get depth(): number {
    return this.queue.depth;
  }

  /** Leader only. Losing leadership forgets everything: the next leadership adopts status again. */
  setActive(active: boolean): void {
    this.active = active;
    this.queue.setActive(active);
    if (!active) {
      this.streams.clear();
      for (const t of this.writeSoon.values()) clearTimeout(t);
      this.writeSoon.clear();
    }
  }

  /**
   * A graceful handover (shutdown): finish the attempts in flight and write their outcomes now, so the next leader
   * finds them acknowledged instead of sending them again.
   */
  async handover(): Promise<void> {
    if (!this.active) return;
    await this.queue.drain();
    const keys = [...this.writeSoon.keys()];
    for (const t of this.writeSoon.values()) clearTimeout(t);
    this.writeSoon.clear();
    await Promise.all(keys.map((k) => this.opts.onChange(k).catch(() => undefined)));
  }

  forget(key: string): void {
    this.streams.delete(key);
    clearTimeout(this.writeSoon.get(key));
    this.writeSoon.delete(key);
  }

  /**
   * status.webhooks as it should be written now: entries aligned with spec.webhooks (by position and URL),
   * adopted from the stored status the first time this process sees the stream.
   */
  statusFor(ls: LiveStream): WebhookStatus[] | undefined {
    const spec = ls.spec?.webhooks ?? [];
    const key = keyOf(ls);
    if (!spec.length) {
      this.streams.delete(key);
      return undefined;
    }
    let st = this.streams.get(key);
    if (!st) {
      // First sight (start, or new leadership): what status says is where the previous leader left off.
      const stored = ls.status?.webhooks ?? [];
      st = {
        urls: spec.map((w) => w.url),
        entries: spec.map((w, i) =>
          stored[i]?.url === redactUrl(w.url) ? structuredClone(stored[i]!) : { url: redactUrl(w.url) },
        ),
      };
      this.streams.set(key, st);
    } else if (st.urls.length !== spec.length || st.urls.some((u, i) => u !== spec[i]!.url)) {
      const before = st;
      st = {
        urls: spec.map((w) => w.url),
        entries: spec.map((w, i) => (before.urls[i] === w.url ? before.entries[i]! : { url: redactUrl(w.url) })),
      };
      this.streams.set(key, st);
    }
    return st.entries.map((e) => structuredClone(e));
  }

  /** Puts newly detected events into the outbox of every webhook subscribed to them. True when one was new. */
  add(ls: LiveStream, events: WebhookEvent[]): boolean {
    const spec = ls.spec?.webhooks ?? [];
    if (!spec.length || !events.length) return false;
    this.statusFor(ls);
    const st = this.streams.get(keyOf(ls))!;
    let added = false;
    spec.forEach((w, i) => {
      const entry = st.entries[i]!;
      for (const ev of events) {
        if (!subscribed(w, ev.type)) continue;
        if (entry.pending?.some((p) => p.id === ev.id)) continue;
        // The outbox is bounded like the queue: the oldest pending event gives way.
        entry.pending = [...(entry.pending ?? []), { ...ev, ...(ev.data ? { data: ev.data } : {}) }].slice(-32);
        added = true;
      }
    });
    return added;
  }

  /** After a status write that holds the outbox: queue every pending event not queued yet. */
  flush(ls: LiveStream): void {
    if (!this.active) return;
    const st = this.streams.get(keyOf(ls));
    if (!st) return;
    const spec = ls.spec?.webhooks ?? [];
    st.entries.forEach((entry, i) => {
      const w = spec[i];
      if (!w || w.url !== st.urls[i]) return;
      const target = `${keyOf(ls)}#${i}`;
      for (const p of entry.pending ?? []) {
        if (this.queue.has(target, p.id)) continue;
        const body = JSON.stringify(
          cloudEvent(p as WebhookEvent, {
            namespace: ls.metadata.namespace,
            name: ls.metadata.name,
            uid: ls.metadata.uid,
          }),
        );
        this.queue.push({
          target,
          url: w.url,
          id: p.id,
          body,
          signingKey: () => this.signingKey(ls.metadata.namespace, i, w),
        });
      }
    });
  }

  /** Reads a webhook's signing key (cached briefly); errors name the field and Secret, never a value. */
  private async signingKey(ns: string, index: number, w: Spec): Promise<Buffer> {
    const key = w.secretRef.key ?? 'secret';
    const id = `${ns}/${w.secretRef.name}/${key}`;
    const cached = this.keys.get(id);
    if (cached && Date.now() - cached.at < KEY_CACHE_MS && cached.key) return cached.key;
    const secret = await this.opts.kube.getOrUndefined<{ data?: Record<string, string> }>(
      resourcePath('v1', 'Secret', ns, w.secretRef.name),
    );
    const value = secret?.data?.[key];
    if (!value) {
      const problem = `spec.webhooks[${index}].secretRef: Secret ${ns}/${w.secretRef.name} ${secret ? `has no key "${key}"` : 'does not exist'}`;
      throw Object.assign(new Error(problem), { webhookReason: problem });
    }
    const bytes = Buffer.from(value, 'base64');
    this.keys.set(id, { at: Date.now(), key: bytes });
    return bytes;
  }

  private outcome(o: Outcome): void {
    if (!this.active) return;
    const [key, index] = splitTarget(o.job.target);
    const entry = this.streams.get(key)?.entries[index];
    if (!entry) return;
    const pending = entry.pending?.find((p) => p.id === o.job.id);
    entry.lastDelivery = new Date(o.at).toISOString().replace(/\.\d{3}Z$/, 'Z');
    entry.lastResult =
      o.final && !o.delivered && o.attempts > 1 ? `${o.result} (gave up after ${o.attempts} attempts)` : o.result;
    entry.consecutiveFailures = o.delivered ? 0 : (entry.consecutiveFailures ?? 0) + (o.attempts ? 1 : 0);
    if (o.final) {
      if (pending) entry.lastEvent = `${pending.type} ${pending.id}`;
      entry.pending = (entry.pending ?? []).filter((p) => p.id !== o.job.id);
      if (!entry.pending.length) delete entry.pending;
      if (!o.delivered)
        this.opts.log.warn({ webhook: entry.url, event: o.job.id, result: o.result }, 'webhook event given up on');
      this.requestWrite(key);
    } else if (this.takeFailureToken()) this.requestWrite(key);
  }

  private takeFailureToken(): boolean {
    const now = Date.now();
    const t = this.failureTokens;
    t.tokens = Math.min(10, t.tokens + ((now - t.at) / 1000) * FAILURE_WRITES_PER_SECOND);
    t.at = now;
    if (t.tokens < 1) return false;
    t.tokens--;
    return true;
  }

  private requestWrite(key: string): void {
    if (this.writeSoon.has(key)) return;
    const t = setTimeout(() => {
      this.writeSoon.delete(key);
      if (this.active) void this.opts.onChange(key).catch(() => undefined);
    }, COALESCE_MS);
    t.unref?.();
    this.writeSoon.set(key, t);
  }
}

const subscribed = (w: Spec, type: WebhookEventName) => (w.events?.length ? w.events : WEBHOOK_EVENTS).includes(type);

function splitTarget(target: string): [string, number] {
  const i = target.lastIndexOf('#');
  return [target.slice(0, i), Number(target.slice(i + 1))];
}
