// events.k8s.io/v1 Events for meaningful transitions, de-duplicated: the same (object, reason, note) is emitted
// once per interval, so a stream stuck on a missing Secret does not flood the namespace.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { LiveStream } from '../api/livestream.ts';
import type { Kube } from '../kube/rest.ts';

export class EventRecorder {
  private readonly recent = new Map<string, number>();
  private readonly kube: Kube;
  private readonly log: Logger;
  private readonly instance: string;
  private readonly dedupMs: number;

  constructor(kube: Kube, log: Logger, instance: string, dedupMs = 10 * 60_000) {
    this.kube = kube;
    this.log = log;
    this.instance = instance;
    this.dedupMs = dedupMs;
  }

  async emit(
    ls: LiveStream,
    type: 'Normal' | 'Warning',
    reason: string,
    note: string,
    action = 'Reconcile',
  ): Promise<void> {
    const k = `${ls.metadata.namespace}/${ls.metadata.name}/${ls.metadata.uid}/${reason}/${note}`;
    const last = this.recent.get(k);
    if (last && Date.now() - last < this.dedupMs) return;
    this.recent.set(k, Date.now());
    if (this.recent.size > 10_000) this.recent.delete(this.recent.keys().next().value!);
    const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    try {
      await this.kube.create({
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: `${ls.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: ls.metadata.namespace },
        eventTime: now,
        reportingController: 'vstream.io/controller',
        reportingInstance: this.instance,
        action,
        reason,
        type,
        note: note.slice(0, 1024),
        regarding: {
          apiVersion: ls.apiVersion,
          kind: ls.kind,
          name: ls.metadata.name,
          namespace: ls.metadata.namespace,
          uid: ls.metadata.uid,
        },
      });
    } catch (e) {
      this.log.warn({ error: (e as Error).message, reason }, 'cannot record event');
    }
  }
}
