// Who may take over a live stream: MediaMTX replaces its publisher with any newcomer the hook allows
// (overridePublisher: true), so the sidecar allows that only to the token the live publisher used. A stand-in for
// MediaMTX's control API (GET /v3/paths/get/<path>) says what is on air.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuthRequest } from '../../src/auth/contract.ts';
import { type AuthState, type Decision, decide, JwtCache } from '../../src/auth/decide.ts';
import { TokenSet } from '../../src/auth/keys.ts';
import { PublisherGuard, tokenId } from '../../src/auth/publisher.ts';
import { mediamtxRequest } from '../../src/auth/request.ts';

const PATH = 'live/show';
const A = 'token-a-0123456789abcdef';
const B = 'token-b-0123456789abcdef';
const S1 = '11111111-1111-4111-8111-111111111111';
const S2 = '22222222-2222-4222-8222-222222222222';
const S3 = '33333333-3333-4333-8333-333333333333';

let onAir: { online: boolean; source?: { type: string; id: string } } = { online: false };
let seenAuth = '';
/** The query MediaMTX lists for an RTMP connection (GET /v3/rtmpconns/get/<id>). */
let rtmpQuery = '';
const api = createServer((req, res) => {
  seenAuth = req.headers.authorization ?? '';
  const body = req.url?.includes('/rtmpconns/get/') ? { query: rtmpQuery } : { name: PATH, ...onAir };
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
});
let base = '';
const dir = mkdtempSync(join(tmpdir(), 'vstream-guard-'));
beforeAll(async () => {
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  writeFileSync(join(dir, 'api-token'), 'internal-api-token-0123456789\n');
});
afterAll(() => new Promise((r) => api.close(r)));

let guard: PublisherGuard;
let state: AuthState;
beforeEach(() => {
  onAir = { online: false };
  guard = new PublisherGuard({
    api: base,
    target: () => ({ path: PATH, apiTokenFile: join(dir, 'api-token') }),
    settleMs: 50,
    log: pino({ level: 'silent' }),
  });
  state = {
    config: {
      path: PATH,
      publish: { tokenFile: '/x', override: 'sameToken' },
      read: { access: 'public' },
      api: { tokenFile: '/y' },
      metrics: { allow: true },
    },
    publishTokens: new TokenSet([A, B]),
    jwtCache: new JwtCache(),
    publisher: guard,
  };
});

/** Publish decisions are synchronous (no JWT involved). */
const publish = (token: string, id: string) =>
  decide(
    mediamtxRequest({
      action: 'publish',
      protocol: 'rtmp',
      path: PATH,
      token,
      query: `token=${token}`,
      id,
    }) as AuthRequest,
    state,
  ) as Decision;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the publisher guard', () => {
  it('asks MediaMTX’s API with the internal token', async () => {
    await guard.poll();
    expect(seenAuth).toBe('Bearer internal-api-token-0123456789');
  });

  it('lets the live publisher’s token take over (a reconnect), and no other token', async () => {
    await guard.poll();
    expect(publish(A, S1)).toMatchObject({ allow: true, reason: 'publish_token' });
    // On air, as MediaMTX's API reports it.
    onAir = { online: true, source: { type: 'rtmpConn', id: S1 } };
    await sleep(60);
    await guard.poll();
    expect(publish(B, S2)).toMatchObject({ allow: false, status: 403, reason: 'path_busy' });
    // The same token on a new connection while the old one is still open: a reconnect, allowed at once.
    expect(publish(A, S3)).toMatchObject({ allow: true, reason: 'publish_token' });
    onAir = { online: true, source: { type: 'rtmpConn', id: S3 } };
    await sleep(60);
    await guard.poll();
    expect(publish(B, S2)).toMatchObject({ allow: false, reason: 'path_busy' });
    expect(guard.holders()).toEqual(new Set([tokenId(A)]));
  });

  it('frees the path once MediaMTX says nobody publishes', async () => {
    await guard.poll();
    expect(publish(A, S1).allow).toBe(true);
    onAir = { online: true, source: { type: 'rtmpConn', id: S1 } };
    await guard.poll();
    onAir = { online: false };
    await sleep(60);
    await guard.poll();
    expect(publish(B, S2)).toMatchObject({ allow: true, reason: 'publish_token' });
  });

  it('a second token right after the first was allowed (not on air yet) waits', async () => {
    await guard.poll();
    expect(publish(A, S1).allow).toBe(true);
    // Before any poll could see it: A is reading its tracks, not yet MediaMTX's publisher.
    expect(publish(B, S2)).toMatchObject({ allow: false, reason: 'path_busy' });
    await guard.poll(); // still offline, but A was allowed moments ago
    expect(publish(B, S2).allow).toBe(false);
  });

  it('a publisher it did not see allowed (the sidecar restarted) holds the path against every token', async () => {
    onAir = { online: true, source: { type: 'rtmpConn', id: S1 } };
    await guard.poll();
    expect(publish(A, S2)).toMatchObject({ allow: false, reason: 'path_busy' });
    expect(publish(B, S3)).toMatchObject({ allow: false, reason: 'path_busy' });
  });

  it('after a sidecar restart, recognises the RTMP publisher on air from its query: its reconnect takes over, nobody else', async () => {
    guard = new PublisherGuard({
      api: base,
      target: () => ({ path: PATH, apiTokenFile: join(dir, 'api-token') }),
      settleMs: 50,
      isPublishToken: (t) => t === A || t === B,
      log: pino({ level: 'silent' }),
    });
    state.publisher = guard;
    onAir = { online: true, source: { type: 'rtmpConn', id: S1 } };
    rtmpQuery = `token=${A}`;
    await guard.poll();
    expect(publish(B, S2)).toMatchObject({ allow: false, reason: 'path_busy' });
    expect(publish(A, S3)).toMatchObject({ allow: true });
    // A query token that is not a publish token proves nothing: the publisher stays unknown and holds against all.
    guard = new PublisherGuard({
      api: base,
      target: () => ({ path: PATH, apiTokenFile: join(dir, 'api-token') }),
      settleMs: 50,
      isPublishToken: (t) => t === A || t === B,
      log: pino({ level: 'silent' }),
    });
    state.publisher = guard;
    rtmpQuery = 'token=forged-0123456789abcdef';
    await guard.poll();
    expect(publish(A, S3)).toMatchObject({ allow: false, reason: 'path_busy' });
    rtmpQuery = '';
  });

  it('a wrong token is still a wrong token, busy or not; without override the guard is not asked', async () => {
    expect(publish('token-x-0123456789abcdef', S1)).toMatchObject({ allow: false, reason: 'bad_publish_token' });
    onAir = { online: true, source: { type: 'rtmpConn', id: S1 } };
    await guard.poll();
    state.config = { ...state.config, publish: { tokenFile: '/x' } };
    expect(publish(B, S2)).toMatchObject({ allow: true });
  });
});
