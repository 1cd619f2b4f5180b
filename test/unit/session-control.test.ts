// spec.enabled and spec.ingest.maxDuration: the sidecar's decisions (switch-off, limits, the controller's push against
// the lagging auth.json), its authenticated /control endpoint, and the controller's side on the fake API.
import type { AddressInfo } from 'node:net';
import fastify from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConditionType, EventReason, Reason } from '../../src/api/conditions.ts';
import { type LiveStream, resolveSpec } from '../../src/api/livestream.ts';
import type { AuthConfig } from '../../src/auth/contract.ts';
import { type AuthState, decide, JwtCache } from '../../src/auth/decide.ts';
import { TokenSet } from '../../src/auth/keys.ts';
import { mediamtxRequest } from '../../src/auth/request.ts';
import { type PathSnapshot, registerControl, SessionControl, sessionVerdict } from '../../src/auth/session-control.ts';
import { desiredStatus } from '../../src/controller/status.ts';
import { controlPlan, newEndings } from '../../src/controller/stream-control.ts';
import type { KubeObject } from '../../src/kube/rest.ts';
import { authConfig } from '../../src/render/mediamtx-config.ts';
import { fakeReconciler, liveStreamObject, pathOf } from '../support/fake-kube.ts';

const log = pino({ level: 'silent' });
const baseConfig = (publish: Partial<AuthConfig['publish']> = {}): AuthConfig => ({
  path: 'live/s',
  publish: { tokenFile: '/t', override: 'sameToken', ...publish },
  read: { access: 'public' },
  api: { tokenFile: '/a' },
  metrics: { allow: true },
});
const onAir = (id = 's1', onlineTime?: string): PathSnapshot => ({
  online: true,
  source: { id, type: 'rtmpConn' },
  ...(onlineTime ? { onlineTime } : {}),
});

describe('sessionVerdict: whether the session on air must end', () => {
  const t0 = 1_000_000;
  const cases: [string, PathSnapshot, Parameters<typeof sessionVerdict>[1], string | undefined][] = [
    ['nobody on air: nothing to end', { online: false }, { enabled: false, now: t0 }, undefined],
    ['switched off: the publisher goes', onAir(), { enabled: true && false, now: t0 }, 'stream_disabled'],
    ['switched on, no limit: stays', onAir(), { enabled: true, now: t0 }, undefined],
    [
      'under the limit: stays',
      onAir(),
      { enabled: true, maxDurationSeconds: 10, startedAt: t0, now: t0 + 9_999 },
      undefined,
    ],
    [
      'at the limit: ends',
      onAir(),
      { enabled: true, maxDurationSeconds: 10, startedAt: t0, now: t0 + 10_000 },
      'max_duration',
    ],
    [
      'start unknown: a limit cannot be applied yet',
      onAir(),
      { enabled: true, maxDurationSeconds: 10, now: t0 + 99_000 },
      undefined,
    ],
    [
      'switched off and over the limit: the switch-off is the reason',
      onAir(),
      { enabled: false, maxDurationSeconds: 1, startedAt: t0, now: t0 + 5_000 },
      'stream_disabled',
    ],
  ];
  it.each(cases)('%s', (_why, snap, o, want) => expect(sessionVerdict(snap, o)).toBe(want));
});

function control(config: { current: AuthConfig }, now = { t: 1_000_000 }, kickOk = true) {
  const kicks: string[] = [];
  const c = new SessionControl({
    config: () => config.current,
    kick: async (kind, id) => {
      kicks.push(`${kind}/${id}`);
      return kickOk;
    },
    log,
    now: () => now.t,
  });
  return { c, kicks, now };
}

describe('SessionControl', () => {
  it('the controller’s push wins over auth.json until a later auth.json says the same', () => {
    const config = { current: baseConfig() };
    const { c } = control(config);
    expect(c.enabled()).toBe(true);
    c.setEnabled(false); // kubelet has not delivered the new auth.json yet
    expect(c.enabled()).toBe(false);
    config.current = baseConfig({ enabled: false }); // now it has
    expect(c.enabled()).toBe(false);
    expect(c.state()).toMatchObject({ enabled: false, fileEnabled: false });
    c.setEnabled(true); // switched back on; the file lags again
    expect(c.enabled()).toBe(true);
    config.current = baseConfig({ enabled: false }); // a late copy of the older file must not switch it off
    expect(c.enabled()).toBe(true);
    config.current = baseConfig(); // the file catches up: the push is no longer needed
    expect(c.enabled()).toBe(true);
    config.current = baseConfig({ enabled: false }); // and from now on the file is the truth
    expect(c.enabled()).toBe(false);
  });

  it('switched off: the publisher on air is kicked through the API kind of its session', async () => {
    const config = { current: baseConfig({ enabled: false }) };
    const { c, kicks } = control(config);
    expect(await c.enforce(onAir('a'))).toBe('stream_disabled');
    expect(await c.enforce({ online: true, source: { id: 'b', type: 'srtConn' } })).toBe('stream_disabled');
    expect(await c.enforce({ online: true, source: { id: 'w', type: 'webRTCSession' } })).toBe('stream_disabled');
    expect(kicks).toEqual(['rtmpconns/a', 'srtconns/b', 'webrtcsessions/w']);
    expect(c.state().endings).toEqual([]); // a switch-off is not an ending at the limit
  });

  it('maxDuration: ends the session at the limit from MediaMTX’s onlineTime, and remembers each ending once', async () => {
    const config = { current: baseConfig({ maxDurationSeconds: 5 }) };
    const { c, kicks, now } = control(config);
    const since = new Date(now.t).toISOString();
    expect(await c.enforce(onAir('a', since))).toBeUndefined();
    now.t += 5_000;
    expect(await c.enforce(onAir('a', since))).toBe('max_duration');
    expect(kicks).toEqual(['rtmpconns/a']);
    // The streamer's new session has its own clock (first seen now, when MediaMTX gives no onlineTime).
    expect(await c.enforce(onAir('b'))).toBeUndefined();
    now.t += 4_000;
    expect(await c.enforce(onAir('b'))).toBeUndefined();
    now.t += 1_000;
    expect(await c.enforce(onAir('b'))).toBe('max_duration');
    const { endings } = c.state();
    expect(endings.map((e) => [e.seq, e.id, e.limitSeconds])).toEqual([
      [1, 'a', 5],
      [2, 'b', 5],
    ]);
  });

  it('a kick MediaMTX refuses is tried again at the next look, and not recorded as an ending', async () => {
    const config = { current: baseConfig({ maxDurationSeconds: 1 }) };
    const { c, kicks, now } = control(config, { t: 0 }, false);
    await c.enforce(onAir('a'));
    now.t += 2_000;
    expect(await c.enforce(onAir('a'))).toBeUndefined();
    expect(await c.enforce(onAir('a'))).toBeUndefined();
    expect(kicks).toHaveLength(2);
    expect(c.state().endings).toEqual([]);
  });
});

describe('decide: a switched-off stream refuses publishers', () => {
  const tokens = TokenSet.parse('good-token-0123456789', 'publish');
  const state = (publish: Partial<AuthConfig['publish']>, control?: SessionControl): AuthState => ({
    config: baseConfig({ ...publish, override: undefined as never }),
    publishTokens: tokens,
    jwtCache: new JwtCache(),
    ...(control ? { control } : {}),
  });
  const req = (token: string) =>
    mediamtxRequest({ action: 'publish', protocol: 'rtmp', path: 'live/s', query: `token=${token}` });
  it('from auth.json, with its own reason; a wrong token is still reported as one', () => {
    expect(decide(req('good-token-0123456789') as never, state({ enabled: false }))).toMatchObject({
      allow: false,
      status: 403,
      reason: 'stream_disabled',
    });
    expect(decide(req('bad') as never, state({ enabled: false }))).toMatchObject({ reason: 'bad_publish_token' });
    expect(decide(req('good-token-0123456789') as never, state({}))).toMatchObject({ allow: true });
  });
  it('from the controller’s push before auth.json has it', () => {
    const config = { current: baseConfig() };
    const { c } = control(config);
    c.setEnabled(false);
    expect(decide(req('good-token-0123456789') as never, state({}, c))).toMatchObject({ reason: 'stream_disabled' });
    c.setEnabled(true);
    expect(decide(req('good-token-0123456789') as never, state({}, c))).toMatchObject({ allow: true });
  });
});

describe('/control on the ops port', () => {
  const apps: ReturnType<typeof fastify>[] = [];
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close();
  });
  it('answers only the internal API token, flips the state and enforces before answering', async () => {
    const config = { current: baseConfig() };
    const { c, kicks } = control(config);
    const app = fastify();
    apps.push(app);
    registerControl(app, {
      control: c,
      apiTokens: () => TokenSet.parse('api-secret-0123456789', 'api'),
      refresh: async () => void (await c.enforce(onAir('x'))),
    });
    const post = (auth: string | undefined, body: unknown) =>
      app.inject({
        method: 'POST',
        url: '/control',
        headers: auth ? { authorization: auth } : {},
        payload: body as object,
      });
    expect((await post(undefined, { enabled: false })).statusCode).toBe(401);
    expect((await post('Bearer wrong', { enabled: false })).statusCode).toBe(401);
    expect((await post('Bearer wrong', { nonsense: 1 })).statusCode).toBe(401); // refused before the body is read
    expect((await app.inject({ method: 'GET', url: '/control' })).statusCode).toBe(401);
    expect(c.enabled()).toBe(true);
    expect((await post('Bearer api-secret-0123456789', { enabled: 'no' })).statusCode).toBe(400);
    const r = await post('Bearer api-secret-0123456789', { enabled: false });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ enabled: false, fileEnabled: true });
    expect(kicks).toEqual(['rtmpconns/x']);
  });
});

describe('controller: what to do for a stream', () => {
  const rows: [string, Parameters<typeof controlPlan>[0], { push: boolean; watch: boolean }][] = [
    [
      'never switched off, no limit: nothing, ever',
      { enabled: true, maxDuration: false, acked: undefined, phase: 'Ready' },
      { push: false, watch: false },
    ],
    [
      'switched off: push and keep watching',
      { enabled: false, maxDuration: false, acked: undefined, phase: 'Live' },
      { push: true, watch: true },
    ],
    [
      'switched off and confirmed: only watch',
      { enabled: false, maxDuration: false, acked: false, phase: 'Disabled' },
      { push: false, watch: true },
    ],
    [
      'switched back on in this process: push',
      { enabled: true, maxDuration: false, acked: false, phase: 'Disabled' },
      { push: true, watch: false },
    ],
    [
      'switched back on while another controller ran: status still says Disabled, push',
      { enabled: true, maxDuration: false, acked: undefined, phase: 'Disabled' },
      { push: true, watch: false },
    ],
    [
      'a limit: watch for endings, nothing to push',
      { enabled: true, maxDuration: true, acked: undefined, phase: 'Live' },
      { push: false, watch: true },
    ],
  ];
  it.each(rows)('%s', (_why, o, want) => expect(controlPlan(o)).toEqual(want));

  it('endings: those after the last one reported; without memory only recent ones', () => {
    const e = (seq: number, endedAt: string) => ({
      seq,
      id: `s${seq}`,
      type: 'rtmpConn',
      startedAt: endedAt,
      endedAt,
      limitSeconds: 5,
    });
    const list = [e(1, '2026-01-01T00:00:00Z'), e(2, '2026-01-01T00:10:00Z')];
    expect(newEndings(list, 1, Date.parse('2026-01-01T01:00:00Z')).map((x) => x.seq)).toEqual([2]);
    expect(newEndings(list, 2, Date.parse('2026-01-01T01:00:00Z'))).toEqual([]);
    expect(newEndings(list, undefined, Date.parse('2026-01-01T00:10:30Z')).map((x) => x.seq)).toEqual([2]);
  });
});

describe('status of a switched-off stream', () => {
  const ls = { metadata: { name: 's', namespace: 'n', generation: 2 }, spec: { enabled: false } } as LiveStream;
  const available = { status: { conditions: [{ type: 'Available', status: 'True' }] } } as unknown as KubeObject;
  it('phase Disabled, Ready=False (Disabled), not live once the publisher is gone', () => {
    const s = desiredStatus(ls, {
      spec: resolveSpec('s', ls.spec),
      publishSecret: { name: 's-publish', key: 'token' },
      deployment: available,
      probe: { online: false, readers: 2 },
    });
    expect(s.phase).toBe('Disabled');
    expect(s.live).toBe(false);
    expect(s.conditions.find((c) => c.type === ConditionType.Ready)).toMatchObject({
      status: 'False',
      reason: Reason.Disabled,
    });
  });
  it('auth.json carries it only when it restricts', () => {
    expect(authConfig(resolveSpec('s', {}), 'token').publish).toEqual({
      tokenFile: expect.any(String),
      override: 'sameToken',
    });
    expect(
      authConfig(resolveSpec('s', { enabled: false, ingest: { maxDuration: '1h30m' } }), 'token').publish,
    ).toMatchObject({ enabled: false, maxDurationSeconds: 5400 });
  });
});

describe('controller on the fake API, against a real /control', () => {
  const apps: ReturnType<typeof fastify>[] = [];
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close();
  });

  it('switching off pushes to the sidecar in the spec pass; the live loop re-pushes a sidecar that forgot, and turns endings into Events once', async () => {
    let { fake, sync, reconciler } = fakeReconciler();
    const config = { current: baseConfig({ maxDurationSeconds: 5 }) };
    const { c, kicks, now } = control(config, { t: Date.now() - 10_000 });
    const app = fastify();
    apps.push(app);
    const apiToken = () => {
      const s = fake.objects.get(pathOf('v1', 'Secret', 'events', 'sw-internal')) as { data?: Record<string, string> };
      return s?.data?.['api-token']
        ? TokenSet.parse(Buffer.from(s.data['api-token'], 'base64').toString(), 'api')
        : undefined;
    };
    const posts: boolean[] = [];
    app.addHook('onRequest', async (req) => {
      if (req.method === 'POST') posts.push(true);
    });
    registerControl(app, { control: c, apiTokens: apiToken, refresh: async () => void (await c.enforce(onAir('p'))) });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const probe = fastify();
    apps.push(probe);
    probe.get('/v3/paths/get/*', async () => ({ online: true, source: { type: 'rtmpConn', id: 'p' }, readers: [] }));
    await probe.listen({ port: 0, host: '127.0.0.1' });
    const api = `http://127.0.0.1:${(probe.server.address() as AddressInfo).port}`;
    ({ fake, sync, reconciler } = fakeReconciler({ locateApi: () => api, locateRecording: () => base }));
    const path = pathOf('vstream.io/v1alpha1', 'LiveStream', 'events', 'sw');
    fake.put(liveStreamObject('sw', { ingest: { maxDuration: '5s' } }));
    sync();
    await reconciler.reconcile('events/sw');
    sync();
    await reconciler.reconcile('events/sw');
    sync();
    expect(posts).toHaveLength(0); // never switched off: nothing pushed

    // The pod is up (what kube-controller-manager reports): the live loop asks it only from then on.
    const d = fake.objects.get(pathOf('apps/v1', 'Deployment', 'events', 'sw'))!;
    d.status = { conditions: [{ type: 'Available', status: 'True' }] };
    fake.put(d, 'kube-controller-manager');
    sync();
    // A session reaches the limit in the pod; the live loop reports it once.
    await c.enforce(onAir('p', new Date(now.t).toISOString()));
    now.t += 5_000;
    expect(await c.enforce(onAir('p', new Date(now.t - 5_000).toISOString()))).toBe('max_duration');
    await reconciler.pollLive('events/sw');
    await reconciler.pollLive('events/sw');
    const ev = () =>
      [...fake.objects.values()].filter((o) => o.kind === 'Event') as unknown as { reason: string; note: string }[];
    expect(ev().filter((e) => e.reason === EventReason.MaxDurationReached)).toHaveLength(1);
    expect(ev().find((e) => e.reason === EventReason.MaxDurationReached)?.note).toContain(
      'spec.ingest.maxDuration (5s)',
    );

    // Switched off: the spec pass pushes, the sidecar kicks before answering.
    const ls = fake.objects.get(path)!;
    fake.put({ ...ls, spec: { enabled: false }, metadata: { ...ls.metadata, generation: 2 } });
    sync();
    kicks.length = 0;
    await reconciler.reconcile('events/sw');
    expect(posts).toHaveLength(1);
    expect(c.enabled()).toBe(false);
    expect(kicks).toEqual(['rtmpconns/p']);
    expect((fake.objects.get(path) as unknown as LiveStream).status?.phase).toBe('Disabled');
    // Nothing deleted.
    for (const [v, k, n] of [
      ['apps/v1', 'Deployment', 'sw'],
      ['v1', 'Service', 'sw'],
      ['v1', 'ConfigMap', 'sw-mediamtx'],
    ] as const)
      expect(fake.objects.has(pathOf(v, k, 'events', n)), `${k} kept`).toBe(true);
    // The sidecar restarts before kubelet delivered auth.json: the live loop sees it disagree and pushes again.
    c.setEnabled(true);
    await reconciler.pollLive('events/sw');
    expect(posts).toHaveLength(2);
    expect(c.enabled()).toBe(false);
  });
});
