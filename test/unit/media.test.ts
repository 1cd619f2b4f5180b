// src/media/ (AMF0, the chunk codec, keyframe files, backoff), the thumbnail render and the loopback read rule,
// against known byte sequences and hand-built inputs. The wire behaviour against a real MediaMTX is
// test/e2e/thumbnails.test.ts.
import { describe, expect, it } from 'vitest';
import type { LiveStream } from '../../src/api/livestream.ts';
import type { AuthConfig } from '../../src/auth/contract.ts';
import { type AuthState, decide, JwtCache } from '../../src/auth/decide.ts';
import { TokenSet } from '../../src/auth/keys.ts';
import { decodeAmf0, encodeAmf0 } from '../../src/media/amf0.ts';
import { ChunkDecoder, encodeMessage, type RtmpMessage } from '../../src/media/chunk.ts';
import { parseServerUrl } from '../../src/media/client.ts';
import { backoffMs, keyframeFlv, videoKind } from '../../src/media/keyframes.ts';
import { renderStream } from '../../src/render/objects.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('AMF0', () => {
  it('encodes a connect command as the spec lays it out', () => {
    const b = encodeAmf0('connect', 1, { app: 'live' }, null);
    expect(b.toString('hex')).toBe(
      // string "connect" | number 1.0 | object {app: "live"} | null
      '020007636f6e6e656374' + '003ff0000000000000' + '03' + '0003617070' + '0200046c697665' + '000009' + '05',
    );
  });

  it('decodes what it encodes, and ECMA arrays, booleans, undefined, strict arrays, dates and long strings', () => {
    const long = 'x'.repeat(70_000);
    const v = decodeAmf0(
      encodeAmf0('a', -2.5, true, false, undefined, [1, 'b'], new Date(1000), long, { n: { m: null } }),
    );
    expect(v).toEqual(['a', -2.5, true, false, undefined, [1, 'b'], new Date(1000), long, { n: { m: null } }]);
    // onMetaData as MediaMTX sends it: an ECMA array (count 1) {width: 640}.
    const ecma = hex('02000a6f6e4d65746144617461 08 00000001 0005776964746800 4084000000000000 000009');
    expect(decodeAmf0(ecma)).toEqual(['onMetaData', { width: 640 }]);
  });

  it('rejects truncated and unknown input instead of guessing', () => {
    expect(() => decodeAmf0(hex('0200ff61'))).toThrow(/truncated/);
    expect(() => decodeAmf0(hex('11'))).toThrow(/unsupported marker/);
  });
});

const msg = (over: Partial<RtmpMessage> = {}): RtmpMessage => ({
  type: 20,
  timestamp: 0,
  streamId: 0,
  csid: 3,
  body: Buffer.alloc(0),
  ...over,
});

describe('chunk stream', () => {
  it('writes a format-0 chunk and format-3 continuations', () => {
    const body = Buffer.alloc(200, 0xab);
    const b = encodeMessage(msg({ body, timestamp: 0x10, streamId: 1 }), 128);
    expect(b.subarray(0, 12).toString('hex')).toBe('03' + '000010' + '0000c8' + '14' + '01000000');
    expect(b[12 + 128]).toBe(0xc3);
    expect(b.length).toBe(12 + 128 + 1 + 72);
  });

  it('writes an extended timestamp in the header and in every continuation', () => {
    const b = encodeMessage(msg({ body: Buffer.alloc(10), timestamp: 0x01000000, csid: 4 }), 4);
    expect(b.subarray(0, 16).toString('hex')).toBe('04' + 'ffffff' + '00000a' + '14' + '00000000' + '01000000');
    expect(b.subarray(20, 25).toString('hex')).toBe('c4' + '01000000');
  });

  it('reads back what it writes, fed a byte at a time', () => {
    const d = new ChunkDecoder();
    d.chunkSize = 4096;
    const m = msg({ body: Buffer.from('hello world'.repeat(500)), timestamp: 0x01234567, streamId: 7, csid: 300 });
    const wire = encodeMessage(m, 4096);
    const out: RtmpMessage[] = [];
    for (const byte of wire) out.push(...d.push(Buffer.from([byte])));
    expect(out).toEqual([m]);
  });

  it('applies format 1, 2 and 3 headers as deltas, and a set chunk size in the middle of the stream', () => {
    const d = new ChunkDecoder();
    const wire = Buffer.concat([
      // set chunk size 4 on csid 2
      hex('02 000000 000004 01 00000000 00000004'),
      // fmt0 csid 6: ts 100, len 6, video, stream 1 — in chunks of 4: fmt0 + 4 bytes, fmt3 + 2 bytes
      hex('06 000064 000006 09 01000000 01020304'),
      hex('c6 0506'),
      // fmt1: delta 40, len 2, video
      hex('46 000028 000002 09 0708'),
      // fmt2: delta 40
      hex('86 000028 090a'),
      // fmt3 new message: delta 40 again
      hex('c6 0b0c'),
    ]);
    const out = d.push(wire);
    expect(out.map((m) => [m.type, m.timestamp, m.streamId, m.body.toString('hex')])).toEqual([
      [1, 0, 0, '00000004'],
      [9, 100, 1, '010203040506'],
      [9, 140, 1, '0708'],
      [9, 180, 1, '090a'],
      [9, 220, 1, '0b0c'],
    ]);
    expect(d.chunkSize).toBe(4);
  });

  it('refuses a header that refers to nothing, and oversized messages', () => {
    expect(() => new ChunkDecoder().push(hex('46 000028 000002 09 0708'))).toThrow(/new chunk stream/);
    expect(() => new ChunkDecoder().push(hex('06 000000 ffffff 09 00000000'))).toThrow(/too large/);
  });
});

describe('media helpers', () => {
  it('parses server URLs into what connect needs, with default ports', () => {
    expect(parseServerUrl('rtmp://a.rtmp.youtube.com/live2')).toMatchObject({
      secure: false,
      host: 'a.rtmp.youtube.com',
      port: 1935,
      app: 'live2',
      tcUrl: 'rtmp://a.rtmp.youtube.com/live2',
    });
    expect(parseServerUrl('rtmps://live-api-s.facebook.com:443/rtmp/')).toMatchObject({
      secure: true,
      port: 443,
      app: 'rtmp',
    });
    expect(() => parseServerUrl('srt://x:1')).toThrow(/unsupported scheme/);
  });

  it('backs off exponentially from 1 s to 60 s with jitter', () => {
    expect(backoffMs(1, () => 0.5)).toBe(1_000);
    expect(backoffMs(3, () => 0.5)).toBe(4_000);
    expect(backoffMs(30, () => 0.5)).toBe(60_000);
    expect(backoffMs(30, () => 1)).toBeLessThanOrEqual(72_000);
  });

  it('tells AVC sequence headers and keyframes apart, and writes a one-frame FLV', () => {
    expect(videoKind(hex('1700000000'))).toBe('config');
    expect(videoKind(hex('1701000000'))).toBe('keyframe');
    expect(videoKind(hex('2701000000'))).toBeUndefined(); // inter frame
    expect(videoKind(hex('9c00000000'))).toBeUndefined(); // enhanced RTMP
    const flv = keyframeFlv(hex('1700000000'), hex('1701000000aa'));
    expect(flv.subarray(0, 13).toString('hex')).toBe('464c5601010000000900000000');
    expect(flv[13]).toBe(9);
    expect(flv.length).toBe(13 + (11 + 5 + 4) + (11 + 6 + 4));
  });
});

const stream = (spec: Record<string, unknown>): LiveStream => ({
  apiVersion: 'vstream.io/v1alpha1',
  kind: 'LiveStream',
  metadata: { name: 's', namespace: 'ns', uid: 'u' },
  spec: spec as LiveStream['spec'],
});
type Pod = {
  initContainers: {
    name: string;
    restartPolicy?: string;
    ports?: { name: string }[];
    volumeMounts: { name: string }[];
  }[];
  containers: { name: string; ports?: { name: string }[]; volumeMounts: { name: string }[] }[];
  volumes: { name: string; secret?: { optional?: boolean } }[];
};
const pod = (r: ReturnType<typeof renderStream>) => (r.deployment.spec as { template: { spec: Pod } }).template.spec;

describe('media render', () => {
  it('adds nothing to a stream without thumbnails', () => {
    const r = renderStream(stream({}), { sidecarImage: 'img' });
    expect(pod(r).containers.map((c) => c.name)).toEqual(['mediamtx']);
    expect(pod(r).initContainers.map((c) => `${c.name}:${c.restartPolicy}`)).toEqual(['auth:Always']);
    expect(r.configMap.data).not.toHaveProperty('media.json');
    expect(r.auth.media).toBeUndefined();
  });

  it('thumbnails: the media and ffmpeg containers, the thumbnail port on the sidecar (not MediaMTX), loopback RTMP without rtmp ingest', () => {
    const r = renderStream(stream({ ingest: { protocols: ['srt'] }, thumbnails: { enabled: true } }), {
      sidecarImage: 'img',
      ffmpegImage: 'ff',
    });
    const p = pod(r);
    expect(p.containers.map((c) => c.name)).toEqual(['mediamtx', 'media', 'thumbnail']);
    expect(p.initContainers.map((c) => c.name)).toEqual(['auth']);
    const names = (c: string) =>
      [...p.initContainers, ...p.containers].find((x) => x.name === c)!.ports?.map((x) => x.name) ?? [];
    expect(names('auth')).toContain('thumbnail');
    expect(names('mediamtx')).not.toContain('thumbnail');
    expect(r.config.rtmp).toBe(true);
    expect(r.config.rtmpAddress).toBe('127.0.0.1:1935');
    const media = JSON.parse((r.configMap.data as Record<string, string>)['media.json']!);
    expect(media).toMatchObject({
      path: 'live/s',
      source: 'rtmp://127.0.0.1:1935',
      apiTokenFile: '/var/run/vstream/internal/api-token',
      thumbnails: { intervalSeconds: 10 },
    });
    expect(r.auth.media).toEqual({ dir: '/var/run/vstream/media/', thumbnails: true });
    // The ffmpeg container's command holds file names only.
    const thumb = p.containers.find((x) => x.name === 'thumbnail') as unknown as { command: string[]; image: string };
    expect(thumb.image).toBe('ff');
    expect(thumb.command.join(' ')).not.toMatch(/token|rtmp:/);
  });
});

describe('the pod-internal read', () => {
  const API = 'internal-api-token-0123456789';
  const config = (media: boolean): AuthConfig => ({
    path: 'live/s',
    publish: { tokenFile: '/x' },
    read: { access: 'jwt', jwt: { issuer: 'https://i', audience: 'vstream', clockSkewSeconds: 30 } },
    api: { tokenFile: '/y' },
    metrics: { allow: true },
    ...(media ? { media: { dir: '/m/', thumbnails: true } } : {}),
  });
  const state = (media: boolean): AuthState => ({
    config: config(media),
    apiTokens: new TokenSet([API]),
    jwtCache: new JwtCache(),
  });
  const req = (ip: string, query: string, action: 'read' | 'playback' = 'read') => ({
    ip,
    user: '',
    password: '',
    token: '',
    action,
    path: 'live/s',
    protocol: 'rtmp' as const,
    id: null,
    query,
  });

  it('lets the media container read from loopback with the internal token, and nobody else', async () => {
    expect(await decide(req('127.0.0.1', `token=${API}`), state(true))).toMatchObject({
      allow: true,
      reason: 'internal_read',
    });
    expect(await decide(req('10.1.2.3', `token=${API}`), state(true))).toMatchObject({ allow: false });
    expect(await decide(req('127.0.0.1', 'token=wrong-token-0123456789'), state(true))).toMatchObject({ allow: false });
    expect(await decide(req('127.0.0.1', `token=${API}`, 'playback'), state(true))).toMatchObject({ allow: false });
    // Without a media container the rule does not exist.
    expect(await decide(req('127.0.0.1', `token=${API}`), state(false))).toMatchObject({ allow: false });
  });
});
