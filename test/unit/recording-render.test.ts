import { describe, expect, it } from 'vitest';
import { resolveSpec } from '../../src/api/livestream.ts';
import { authConfig, mediamtxConfig, reserveBytes, tlsConfig } from '../../src/render/mediamtx-config.ts';
import { publicPorts } from '../../src/render/ports.ts';

const spec = (recording: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  resolveSpec('show', { recording: { enabled: true, ...recording }, ...extra } as never);

describe('recording render', () => {
  it('turns the playback server on with recording, on the Service, and retention over to the sidecar', () => {
    const s = spec({ retention: '2h', maxSize: '80%' });
    const c = mediamtxConfig(s);
    expect(c).toMatchObject({ playback: true, playbackAddress: ':9996' });
    expect((c.paths as Record<string, Record<string, unknown>>)['live/show']).toMatchObject({
      record: true,
      recordDeleteAfter: '0s',
    });
    expect(publicPorts(s).map((p) => p.name)).toContain('playback');
    expect(authConfig(s, 'token').recording).toEqual({
      dir: '/recordings/',
      retentionSeconds: 7200,
      maxPercent: 80,
      reserveBytes: 256 * 2 ** 20,
    });
    expect(authConfig(spec({ maxSize: '1536Mi' }), 'token').recording?.maxBytes).toBe(1536 * 2 ** 20);
    const off = resolveSpec('show', {});
    expect(mediamtxConfig(off).playback).toBe(false);
    expect(publicPorts(off).map((p) => p.name)).not.toContain('playback');
    expect(authConfig(off, 'token').recording).toBeUndefined();
  });

  it('serves playback over TLS with spec.tls', () => {
    expect(tlsConfig(spec({}, { tls: { secretRef: { name: 'cert' } } }))).toMatchObject({
      playbackEncryption: 'true',
      playbackServerKey: '/var/run/vstream/tls/tls.key',
      playbackServerCert: '/var/run/vstream/tls/tls.crt',
    });
  });

  it('reserves 5% of the volume for the pause threshold, between 1 MiB and 256 MiB', () => {
    expect(reserveBytes('4Mi')).toBe(2 ** 20);
    expect(reserveBytes('1Gi')).toBe(Math.floor(0.05 * 2 ** 30));
    expect(reserveBytes('100Gi')).toBe(256 * 2 ** 20);
  });
});
