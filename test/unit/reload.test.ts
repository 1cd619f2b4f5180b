// What a config change restarts in MediaMTX 1.20.1, and whom it would drop given who is connected.
import { describe, expect, it } from 'vitest';
import { resolveSpec } from '../../src/api/livestream.ts';
import { configChanges, GLOBAL_RELOAD, PATH_RELOAD, whoWouldDrop } from '../../src/mediamtx/reload.ts';
import { mediamtxConfig } from '../../src/render/mediamtx-config.ts';

const render = (spec: Parameters<typeof resolveSpec>[1]) => mediamtxConfig(resolveSpec('show', spec));

describe('reload classes', () => {
  it('classify every key the renderer emits', () => {
    const config = render({ recording: { enabled: true } });
    for (const key of Object.keys(config)) if (key !== 'paths') expect(GLOBAL_RELOAD, key).toHaveProperty(key);
    const path = (config.paths as Record<string, Record<string, unknown>>)['live/show']!;
    for (const key of Object.keys(path)) expect(PATH_RELOAD, key).toHaveProperty(key);
  });

  it('logLevel restarts every server; allowed origins restart HLS and WebRTC; recording keys are hot', () => {
    const base = render({ playback: { protocols: ['hls', 'webrtc'] } });
    expect(
      configChanges(base, render({ playback: { protocols: ['hls', 'webrtc'] }, mediamtx: { logLevel: 'debug' } })),
    ).toMatchObject([{ key: 'logLevel', class: 'server-restart', drops: 'everyone' }]);
    const origins = configChanges(
      base,
      render({ playback: { protocols: ['hls', 'webrtc'], allowedOrigins: ['https://a.example'] } }),
    );
    expect(origins.map((c) => [c.key, c.drops])).toEqual([
      ['hlsAllowOrigins', 'hls'],
      ['webrtcAllowOrigins', 'webrtc'],
    ]);
    const rec = configChanges(
      render({ recording: { enabled: true } }),
      render({ recording: { enabled: true, segmentDuration: '10m' } }),
    );
    expect(rec).toMatchObject([{ key: 'paths.live/show.recordSegmentDuration', class: 'hot', drops: 'none' }]);
    expect(configChanges(base, base)).toEqual([]);
  });

  it('a renamed path drops the old path’s sessions; an unknown key is assumed to drop everyone', () => {
    const moved = configChanges(render({}), render({ path: 'live/elsewhere' }));
    expect(moved).toMatchObject([{ key: 'paths.live/show', class: 'path-restart', drops: 'everyone' }]);
    expect(configChanges({ newKey: 1 }, { newKey: 2 })).toMatchObject([{ drops: 'everyone' }]);
  });
});

describe('whoWouldDrop', () => {
  const hls = configChanges(render({}), render({ playback: { allowedOrigins: ['https://a.example'] } }));
  const everything = configChanges(render({}), render({ mediamtx: { logLevel: 'debug' } }));
  it('names the publisher and the readers it takes with it', () => {
    expect(whoWouldDrop(everything, { publisher: 'rtmpConn', readers: ['hlsMuxer', 'webRTCSession'] })).toBe(
      'the publisher and 2 readers',
    );
  });
  it('an HLS restart drops HLS readers only, never an RTMP publisher', () => {
    expect(whoWouldDrop(hls, { publisher: 'rtmpConn', readers: ['hlsMuxer', 'rtspSession'] })).toBe('1 reader');
    expect(whoWouldDrop(hls, { publisher: 'rtmpConn', readers: [] })).toBeUndefined();
  });
  it('nobody connected: nobody dropped', () => {
    expect(whoWouldDrop(everything, { readers: [] })).toBeUndefined();
  });
});
