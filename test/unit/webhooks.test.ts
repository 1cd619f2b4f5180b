// Webhooks: the signer against the verification snippet users copy from docs/webhooks.md, the CloudEvent, the
// transitions a status write stands for, the bounded delivery queue (fake timers), and the outbox across a leader
// change on the fake API server.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConditionType, Reason } from '../../src/api/conditions.ts';
import type { LiveStream, LiveStreamStatus } from '../../src/api/livestream.ts';
import { EventRecorder } from '../../src/controller/events.ts';
import { Reconciler } from '../../src/controller/reconcile.ts';
import type { Kube, KubeObject } from '../../src/kube/rest.ts';
import { cloudEvent, eventId, redactUrl } from '../../src/webhooks/event.ts';
import { DeliveryQueue, type Outcome, type Send } from '../../src/webhooks/queue.ts';
import { signedHeaders } from '../../src/webhooks/sign.ts';
import { eventsBetween } from '../../src/webhooks/transitions.ts';
import { FakeKube, fakeCaches, liveStreamObject, pathOf } from '../support/fake-kube.ts';
import { documentedVerify, type Verify } from '../support/webhook-receiver.ts';

let verify: Verify;

beforeAll(async () => {
  // The very code docs/webhooks.md tells users to paste.
  verify = await documentedVerify();
});

const SECRET = 'a-signing-secret-of-some-length';

describe('signature: what we sign, the documented snippet verifies', () => {
  const ev = cloudEvent(
    { id: eventId('uid-1', 'stream.live', '2026-01-01T00:00:00Z'), type: 'stream.live', time: '2026-01-01T00:00:00Z' },
    { namespace: 'ns', name: 's', uid: 'uid-1' },
  );
  const body = JSON.stringify(ev);
  const now = 1_800_000_000_000;
  const headers = signedHeaders(Buffer.from(SECRET), ev.id, body, now);

  it('accepts our request and returns the event', () => {
    expect(verify(SECRET, headers, body, now / 1000)).toMatchObject({ id: ev.id, type: 'io.vstream.stream.live' });
  });
  it('rejects a changed body, another secret, another id', () => {
    expect(() => verify(SECRET, headers, body.replace('stream.live', 'stream.offline'), now / 1000)).toThrow(
      /signature/,
    );
    expect(() => verify('another-secret', headers, body, now / 1000)).toThrow(/signature/);
    expect(() => verify(SECRET, { ...headers, 'webhook-id': 'x' }, body, now / 1000)).toThrow(/signature/);
  });
  it('rejects a replay outside the 5-minute tolerance, and a request from the future', () => {
    expect(() => verify(SECRET, headers, body, now / 1000 + 301)).toThrow(/tolerance/);
    expect(() => verify(SECRET, headers, body, now / 1000 - 301)).toThrow(/tolerance/);
    expect(verify(SECRET, headers, body, now / 1000 + 299)).toBeTruthy();
  });
  it('rejects missing headers', () => {
    expect(() => verify(SECRET, {}, body, now / 1000)).toThrow(/missing/);
  });
});

describe('CloudEvent', () => {
  it('is CloudEvents 1.0 structured JSON with a deterministic id', () => {
    const a = eventId('uid', 'stream.live', 't1');
    expect(a).toBe(eventId('uid', 'stream.live', 't1'));
    expect(a).not.toBe(eventId('uid', 'stream.offline', 't1'));
    expect(a).not.toBe(eventId('uid', 'stream.live', 't2'));
    const ev = cloudEvent(
      { id: a, type: 'stream.offline', time: 't', data: { sessionStart: 't1' } },
      { namespace: 'n', name: 's', uid: 'uid' },
    );
    expect(ev).toEqual({
      specversion: '1.0',
      id: a,
      source: '/apis/vstream.io/v1alpha1/namespaces/n/livestreams/s',
      type: 'io.vstream.stream.offline',
      time: 't',
      subject: 'n/s',
      datacontenttype: 'application/json',
      data: { namespace: 'n', name: 's', uid: 'uid', sessionStart: 't1' },
    });
  });
  it('status shows a URL without user info, query or fragment', () => {
    expect(redactUrl('https://user:pw@hooks.example.com:8443/in/x?token=s3cret#f')).toBe(
      'https://hooks.example.com:8443/in/x',
    );
  });
});

describe('transitions a status write stands for', () => {
  const st = (live: boolean, liveSince: string, extra: Partial<LiveStreamStatus> = {}): LiveStreamStatus => ({
    phase: live ? 'Live' : 'Ready',
    live,
    conditions: [
      {
        type: ConditionType.Live,
        status: live ? 'True' : 'False',
        reason: live ? Reason.PublisherOnline : Reason.NoPublisher,
        message: '',
        lastTransitionTime: liveSince,
      },
    ],
    ...extra,
  });
  const types = (old: LiveStreamStatus | undefined, next: LiveStreamStatus) =>
    eventsBetween(old, next, 'uid', 'now').map((e) => e.type);

  it('going live, ending the session, nothing in between', () => {
    expect(types(st(false, 't0'), st(true, 't1'))).toEqual(['stream.live']);
    expect(types(st(true, 't1'), st(true, 't1'))).toEqual([]);
    const off = eventsBetween(st(true, 't1'), st(false, 't2'), 'uid', 'now');
    expect(off.map((e) => e.type)).toEqual(['stream.offline']);
    // Both ends of a session share its start: the offline id is known from the session alone.
    expect(off[0]!.id).toBe(eventId('uid', 'stream.offline', 't1'));
    expect(eventsBetween(st(false, 't0'), st(true, 't1'), 'uid', 'x')[0]!.id).toBe(eventId('uid', 'stream.live', 't1'));
  });
  it('a stream that never went live goes offline silently; a first status that is live is a live event', () => {
    expect(types(undefined, st(false, 't0'))).toEqual([]);
    expect(types(undefined, st(true, 't0'))).toEqual(['stream.live']);
  });
  it('stream.failed when phase becomes Failed, once', () => {
    const failed: LiveStreamStatus = {
      phase: 'Failed',
      live: false,
      conditions: [
        {
          type: ConditionType.Ready,
          status: 'False',
          reason: Reason.NotReconciled,
          message: 'spec.ingest.publishTokenSecretRef: Secret n/x does not exist',
          lastTransitionTime: 't3',
        },
      ],
    };
    expect(types(st(false, 't0'), failed)).toEqual(['stream.failed']);
    expect(types(failed, failed)).toEqual([]);
  });
});

describe('delivery queue', () => {
  afterEach(() => vi.useRealTimers());
  const job = (target: string, id: string) => ({
    target,
    url: 'http://127.0.0.1:1/hook',
    id,
    body: '{}',
    signingKey: async () => Buffer.from(SECRET),
  });
  const flush = async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };

  it('retries with exponential backoff and jitter, then delivers; metrics count attempts', async () => {
    vi.useFakeTimers();
    const registry = new Registry();
    const answers = [500, 503, 204];
    const times: number[] = [];
    const send: Send = async () => {
      times.push(Date.now());
      return answers.shift()!;
    };
    const outcomes: Outcome[] = [];
    const q = new DeliveryQueue({ send, registry, random: () => 0.5, onOutcome: (o) => outcomes.push(o) });
    q.setActive(true);
    q.push(job('s#0', 'e1'));
    await flush();
    expect(times).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(times).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(times).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(times).toHaveLength(3);
    expect(outcomes.map((o) => [o.result, o.final])).toEqual([
      ['Failed: HTTP 500', false],
      ['Failed: HTTP 503', false],
      ['Delivered 204', true],
    ]);
    expect(q.depth).toBe(0);
    const text = await registry.metrics();
    expect(text).toContain('vstream_webhook_deliveries_total{result="failed"} 2');
    expect(text).toContain('vstream_webhook_deliveries_total{result="delivered"} 1');
    expect(text).toContain('vstream_webhook_queue_depth 0');
  });

  it('gives up after 6 attempts over about 5 minutes', async () => {
    vi.useFakeTimers();
    const start = Date.now();
    const times: number[] = [];
    const outcomes: Outcome[] = [];
    const q = new DeliveryQueue({
      send: async () => {
        times.push(Date.now() - start);
        throw Object.assign(new Error('connect'), { code: 'ECONNREFUSED' });
      },
      random: () => 0.5,
      onOutcome: (o) => outcomes.push(o),
    });
    q.setActive(true);
    q.push(job('s#0', 'e1'));
    await vi.advanceTimersByTimeAsync(400_000);
    expect(times).toEqual([0, 10_000, 30_000, 70_000, 150_000, 310_000]);
    expect(outcomes.at(-1)).toMatchObject({
      final: true,
      delivered: false,
      attempts: 6,
      result: 'Failed: ECONNREFUSED',
    });
    // Jitter: ×0.75 to ×1.25.
    expect(q.delayAfter(1)).toBe(10_000);
    const low = new DeliveryQueue({ random: () => 0, onOutcome: () => {} }).delayAfter(3);
    const high = new DeliveryQueue({ random: () => 0.999999, onOutcome: () => {} }).delayAfter(3);
    expect([low, Math.round(high)]).toEqual([30_000, 50_000]);
  });

  it('is bounded: beyond the bound the oldest waiting event is dropped and counted; a dead receiver holds up only its own target', async () => {
    vi.useFakeTimers();
    const registry = new Registry();
    const outcomes: Outcome[] = [];
    const sent: string[] = [];
    const q = new DeliveryQueue({
      bound: 3,
      registry,
      send: async (url) => {
        if (url.includes('dead')) return new Promise<number>(() => {}); // never answers (the timeout is the caller's)
        sent.push(url);
        return 200;
      },
      onOutcome: (o) => outcomes.push(o),
    });
    q.setActive(true);
    q.push({ ...job('dead#0', 'd1'), url: 'http://dead/1' });
    q.push({ ...job('dead#0', 'd2'), url: 'http://dead/2' });
    q.push({ ...job('dead#0', 'd3'), url: 'http://dead/3' });
    q.push({ ...job('dead#0', 'd4'), url: 'http://dead/4' });
    await flush();
    // d1 is in flight; d2 (the oldest waiting) was dropped for d4.
    expect(outcomes.map((o) => [o.job.id, o.result])).toEqual([['d2', 'Failed: dropped, queue full']]);
    expect(q.depth).toBe(3);
    q.push({ ...job('ok#0', 'k1'), url: 'http://ok/1' });
    await flush();
    expect(sent).toEqual(['http://ok/1']);
    expect(await registry.metrics()).toContain('vstream_webhook_events_dropped_total{reason="queue_full"} 2');
  });

  it('an inactive queue (not the leader) sends nothing', async () => {
    const send = vi.fn(async () => 200);
    const q = new DeliveryQueue({ send, onOutcome: () => {} });
    q.push(job('s#0', 'e1'));
    await flush();
    expect(send).not.toHaveBeenCalled();
  });
});

describe('outbox: once per transition across a leader change (fake API server)', () => {
  // MediaMTX's control API, as the live loop asks it.
  let state: Record<string, unknown> = { online: false, readers: [] };
  const api = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(state)),
  );
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => api.close(r)));

  const NS = 'events';
  const log = pino({ level: 'silent' });
  const received: { id: string; type: string; replica: string }[] = [];
  /** A replica of the controller on the shared fake API: its own caches, its own delivery queue. */
  const replica = (fake: FakeKube, name: string, send: Send) => {
    const { caches, sync } = fakeCaches(fake);
    const r = new Reconciler(fake, caches, new EventRecorder(fake as unknown as Kube, log, name, 0), log, {
      sidecarImage: 'vstream:test',
      locateApi: () => base,
      liveGraceMs: 0,
      webhookDelivery: { send, baseDelayMs: 50 },
    });
    sync();
    return { r, sync };
  };
  const receiver =
    (replicaName: string): Send =>
    async (_url, headers, body) => {
      const ev = verify(SECRET, headers, body) as { id: string; type: string };
      received.push({ id: ev.id, type: ev.type, replica: replicaName });
      return 204;
    };
  const waitFor = async (f: () => boolean, ms = 3000) => {
    const end = Date.now() + ms;
    while (!f()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('a transition detected by a leader that dies before sending is sent by the next, once; nothing is sent twice', async () => {
    const fake = new FakeKube();
    const key = `${NS}/w`;
    fake.put({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'hook', namespace: NS },
      stringData: { secret: SECRET },
    } as unknown as KubeObject);
    fake.put(
      liveStreamObject('w', { webhooks: [{ url: 'http://127.0.0.1:9/hook?token=t', secretRef: { name: 'hook' } }] }),
    );
    const path = pathOf('vstream.io/v1alpha1', 'LiveStream', NS, 'w');
    const status = () => (fake.objects.get(path) as unknown as LiveStream).status!;

    // Replica A leads, and its receiver never answers: A "dies" with stream.live detected, written, not delivered.
    const a = replica(fake, 'a', () => new Promise<number>(() => {}));
    a.r.setLeader(true);
    for (let i = 0; i < 3; i++) {
      await a.r.reconcile(key);
      a.sync();
    }
    const dep = fake.objects.get(pathOf('apps/v1', 'Deployment', NS, 'w'))!;
    dep.status = { conditions: [{ type: 'Available', status: 'True' }] };
    fake.put(dep, 'kube-controller-manager');
    a.sync();
    await a.r.reconcile(key);
    a.sync();
    expect(status().conditions?.find((c) => c.type === ConditionType.WebhooksReady)?.status).toBe('True');
    state = { online: true, readers: [], source: { type: 'rtmpConn' } };
    await a.r.pollLive(key);
    // The write that says live also holds the event: status never says live without its outbox entry.
    const liveWrite = fake
      .writes()
      .filter((w) => w.path.endsWith('/status'))
      .find((w) => (w.body as unknown as LiveStream).status?.live);
    expect(liveWrite && (liveWrite.body as unknown as LiveStream).status?.webhooks?.[0]?.pending?.[0]?.type).toBe(
      'stream.live',
    );
    expect(status().webhooks?.[0]).toMatchObject({ url: 'http://127.0.0.1:9/hook' });
    expect(JSON.stringify(status())).not.toContain('token=t');
    a.r.setLeader(false); // A is gone

    // Replica B takes over: it finds the outbox and sends what is pending; its first look is not a "drop".
    const b = replica(fake, 'b', receiver('b'));
    b.r.setLeader(true);
    await b.r.reconcile(key);
    await waitFor(() => received.length === 1);
    await waitFor(() => !status().webhooks?.[0]?.pending);
    expect(status().webhooks?.[0]).toMatchObject({ lastResult: 'Delivered 204', consecutiveFailures: 0 });
    expect(status().webhooks?.[0]?.lastEvent).toMatch(/^stream\.live /);
    b.sync();
    await b.r.pollLive(key); // still live: nothing new
    b.sync();
    b.r.setLeader(false);

    // Replica C after B: adopts a clean outbox, sends nothing for the session, then exactly one offline.
    const c = replica(fake, 'c', receiver('c'));
    c.r.setLeader(true);
    await c.r.reconcile(key);
    c.sync();
    await c.r.pollLive(key);
    c.sync();
    await new Promise((r) => setTimeout(r, 200));
    expect(received.map((e) => e.type)).toEqual(['io.vstream.stream.live']);
    state = { online: false, readers: [] };
    await c.r.pollLive(key);
    c.sync();
    await waitFor(() => received.length === 2);
    const [live, offline] = received;
    expect(offline).toMatchObject({ type: 'io.vstream.stream.offline', replica: 'c' });
    expect(live!.id).not.toBe(offline!.id);
    await waitFor(() => !status().webhooks?.[0]?.pending);
    c.sync();
    // Idle: no further writes.
    const writes = fake.writes().length;
    await c.r.reconcile(key);
    await c.r.pollLive(key);
    expect(fake.writes().length).toBe(writes);
    c.r.setLeader(false);
  });

  it('a missing signing Secret is condition WebhooksReady=False naming the field, and the stream runs on', async () => {
    const fake = new FakeKube();
    fake.put(
      liveStreamObject('m', { webhooks: [{ url: 'https://hooks.example.com/x', secretRef: { name: 'nope' } }] }),
    );
    const a = replica(fake, 'a', receiver('a'));
    for (let i = 0; i < 3; i++) {
      await a.r.reconcile(`${NS}/m`);
      a.sync();
    }
    const ls = fake.objects.get(pathOf('vstream.io/v1alpha1', 'LiveStream', NS, 'm')) as unknown as LiveStream;
    expect(ls.status?.conditions?.find((c) => c.type === ConditionType.WebhooksReady)).toMatchObject({
      status: 'False',
      reason: Reason.SecretNotFound,
      message: 'spec.webhooks[0].secretRef: Secret events/nope does not exist',
    });
    expect(ls.status?.phase).not.toBe('Failed');
    expect(fake.objects.get(pathOf('apps/v1', 'Deployment', NS, 'm'))).toBeDefined();
  });
});

describe('HTTP delivery', () => {
  it('POSTs the body with the signature headers; user info in the URL becomes Basic auth; the answer body is capped', async () => {
    const { httpSend } = await import('../../src/webhooks/queue.ts');
    const { createServer: serve } = await import('node:http');
    const seen: { auth?: string; url?: string; sig?: string; body: string }[] = [];
    const srv = serve((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += String(d);
      });
      req.on('end', () => {
        seen.push({
          auth: req.headers.authorization,
          url: req.url,
          sig: req.headers['webhook-signature'] as string,
          body,
        });
        // A receiver that answers with far more than anyone reads.
        res.writeHead(200).end(Buffer.alloc(1024 * 1024));
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    try {
      const status = await httpSend(
        `http://user:p%40ss@127.0.0.1:${port}/in?x=1`,
        signedHeaders(SECRET, 'id1', '{"a":1}'),
        '{"a":1}',
        5000,
      );
      expect(status).toBe(200);
      expect(seen[0]).toMatchObject({
        auth: `Basic ${Buffer.from('user:p@ss').toString('base64')}`,
        url: '/in?x=1',
        body: '{"a":1}',
      });
      expect(seen[0]!.sig).toMatch(/^v1,/);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
