// Restreaming's pure parts (src/restream/forward.ts), the controller's status cache, and what the renderer puts
// where: keys only as file paths in auth.json, Secrets in a projected volume of the auth container.

import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import type { LiveStream } from '../../src/api/livestream.ts';
import { AuthConfigSchema } from '../../src/auth/contract.ts';
import { RestreamStatusCache } from '../../src/controller/restream-status.ts';
import { renderStream } from '../../src/render/objects.ts';
import { forwardDest, safeReason, sameForward, type TargetStatus, targetState } from '../../src/restream/forward.ts';

describe('forward destinations', () => {
  it('puts an RTMP key in the fragment (encoded), a WHIP token in the Bearer field', () => {
    expect(forwardDest({ url: 'rtmps://a.rtmps.youtube.com/live2' }, 'ab#c d').dest).toBe(
      'rtmps://a.rtmps.youtube.com/live2#ab%23c%20d',
    );
    expect(forwardDest({ url: 'whips://x.example/whip' }, 'tok')).toEqual({
      dest: 'whips://x.example/whip',
      destFingerprint: '',
      whipBearerToken: 'tok',
    });
  });

  it('compares with what MediaMTX reports, empty fields included', () => {
    const want = [forwardDest({ url: 'rtmp://h/app' }, 'k')];
    expect(sameForward([{ dest: 'rtmp://h/app#k', destFingerprint: '', whipBearerToken: '' }], want)).toBe(true);
    expect(sameForward([{ dest: 'rtmp://h/app#old' }], want)).toBe(false);
    expect(sameForward(undefined, [])).toBe(true);
    expect(sameForward(undefined, want)).toBe(false);
  });
});

describe('target state', () => {
  const key = 'sk-live-9f8e7d';
  it.each([
    ['no forward running', undefined, undefined, 'Idle'],
    ['idle', { pos: 0, state: 'idle' as const }, undefined, 'Idle'],
    ['attempt started, nothing sent', { pos: 0, state: 'forwarding' as const, outboundBytes: 0 }, 0, 'Connecting'],
    ['bytes growing', { pos: 0, state: 'forwarding' as const, outboundBytes: 9000 }, 100, 'Connected'],
    ['first look with bytes', { pos: 0, state: 'forwarding' as const, outboundBytes: 9000 }, undefined, 'Connecting'],
    ['failed', { pos: 0, state: 'error' as const, lastError: 'bad result' }, undefined, 'Retrying'],
  ])('%s', (_what, item, prev, state) => {
    expect(targetState(item, prev, undefined, [key]).state).toBe(state);
  });

  it('names the Secret and key of a missing key file', () => {
    expect(targetState(undefined, undefined, 'yt/streamKey', [])).toEqual({
      state: 'Retrying',
      reason: 'Secret yt has no key streamKey (or does not exist)',
    });
  });

  it('never reports a key or a URL with credentials', () => {
    const r = targetState(
      {
        pos: 0,
        state: 'error',
        lastError: `bad result: NetStream.Publish.BadName live/${key} rtmp://u:p@h:1935/live#${encodeURIComponent(key)}`,
      },
      undefined,
      undefined,
      [key],
    ).reason;
    expect(r).not.toContain(key);
    expect(r).not.toContain('u:p');
    expect(r).toContain('<key>');
    expect(safeReason('x'.repeat(1000), [])).toHaveLength(256);
  });
});

describe('status cache', () => {
  const targets: TargetStatus[] = [
    { name: 'a', state: 'Connected', since: '2026-01-01T00:00:00Z' },
    { name: 'b', state: 'Retrying', reason: 'refused', since: '2026-01-01T00:00:00Z' },
  ];
  it('writes on a change only, and asks an offline stream only until every target is idle', async () => {
    let asked = 0;
    let answer = targets;
    const cache = new RestreamStatusCache({
      locate: () => 'http://sidecar',
      ask: async () => {
        asked++;
        return answer;
      },
      askEveryMs: 0,
    });
    const r1 = await cache.refresh('ns/s', 'ns', 's', ['a', 'b'], true, 1);
    expect(r1.write).toBe(true);
    expect(r1.changed.map((t) => t.name)).toEqual(['a', 'b']);
    expect((await cache.refresh('ns/s', 'ns', 's', ['a', 'b'], true, 2)).write).toBe(false);
    answer = targets.map((t) => ({ name: t.name, state: 'Idle' as const, since: 'x' }));
    expect((await cache.refresh('ns/s', 'ns', 's', ['a', 'b'], false, 3)).write).toBe(true);
    const before = asked;
    expect((await cache.refresh('ns/s', 'ns', 's', ['a', 'b'], false, 4)).write).toBe(false);
    expect(asked).toBe(before);
  });

  it('keeps only targets the spec names', async () => {
    const cache = new RestreamStatusCache({ locate: () => 'http://s', ask: async () => targets, askEveryMs: 0 });
    await cache.refresh('k', 'ns', 's', ['b'], true, 1);
    expect(cache.get('k')?.map((t) => t.name)).toEqual(['b']);
  });
});

describe('render', () => {
  const ls = {
    apiVersion: 'vstream.io/v1alpha1',
    kind: 'LiveStream',
    metadata: { name: 'show', namespace: 'ns', uid: 'u1', generation: 1 },
    spec: {
      restream: [
        { name: 'youtube', url: 'rtmps://a.rtmps.youtube.com/live2', secretRef: { name: 'yt' } },
        { name: 'twitch', url: 'rtmps://live.twitch.tv/app', secretRef: { name: 'keys', key: 'twitch' } },
        { name: 'backup', url: 'rtmp://b.example/live', secretRef: { name: 'keys', key: 'backup' } },
      ],
    },
  } as unknown as LiveStream;
  const r = renderStream(ls, { sidecarImage: 'img' });
  const cm = r.configMap as unknown as { data: Record<string, string> };
  const auth = JSON.parse(cm.data['auth.json']!);

  it('gives the sidecar file paths, valid against its schema', () => {
    expect(Value.Check(AuthConfigSchema, auth)).toBe(true);
    expect(auth.restream).toEqual([
      {
        name: 'youtube',
        url: 'rtmps://a.rtmps.youtube.com/live2',
        keyFile: '/var/run/vstream/restream/yt/streamKey',
        secret: 'yt/streamKey',
      },
      {
        name: 'twitch',
        url: 'rtmps://live.twitch.tv/app',
        keyFile: '/var/run/vstream/restream/keys/twitch',
        secret: 'keys/twitch',
      },
      {
        name: 'backup',
        url: 'rtmp://b.example/live',
        keyFile: '/var/run/vstream/restream/keys/backup',
        secret: 'keys/backup',
      },
    ]);
    expect(cm.data['mediamtx.yml']).not.toContain('forward');
  });

  it('mounts each Secret once, whole and optional, in the auth container only', () => {
    const pod = (r.deployment as unknown as { spec: { template: { spec: unknown } } }).spec.template.spec as {
      volumes: { name: string; secret?: { secretName: string; optional?: boolean; items?: unknown } }[];
      containers: { name: string; volumeMounts: { name: string; mountPath: string }[] }[];
      initContainers?: { name: string; volumeMounts: { name: string; mountPath: string }[] }[];
    };
    const vols = pod.volumes.filter((v) => v.name.startsWith('restream-'));
    expect(vols).toEqual([
      { name: 'restream-0', secret: { secretName: 'keys', optional: true, defaultMode: 0o440 } },
      { name: 'restream-1', secret: { secretName: 'yt', optional: true, defaultMode: 0o440 } },
    ]);
    // The auth sidecar is a native sidecar (an init container).
    const mounts = [...(pod.initContainers ?? []), ...pod.containers].flatMap((c) =>
      c.volumeMounts.filter((m) => m.name.startsWith('restream-')).map((m) => `${c.name}:${m.mountPath}`),
    );
    expect(mounts).toEqual(['auth:/var/run/vstream/restream/keys', 'auth:/var/run/vstream/restream/yt']);
  });
});
