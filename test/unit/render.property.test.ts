// Invariants of the renderers over arbitrary valid specs (fast-check), beyond what the golden files pin down.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  INGEST_PROTOCOLS,
  type LiveStream,
  type LiveStreamSpec,
  MEDIAMTX_VERSION,
  PLAYBACK_PROTOCOLS,
} from '../../src/api/livestream.ts';
import { unknownKeys } from '../../src/mediamtx/keys.ts';
import { envName, tlsConfig } from '../../src/render/mediamtx-config.ts';
import {
  childObjects,
  internalSecretObject,
  publishSecretObject,
  RESTART_HASH_ANNOTATION,
  type RenderedStream,
  renderStream,
} from '../../src/render/objects.ts';

const subset = <T>(values: readonly T[]) => fc.subarray([...values], { minLength: 1 });
const duration = fc.constantFrom('1s', '30s', '10m', '1h', '6h', '24h');
const secretName = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/);
const secretValue = fc
  .string({ minLength: 24, maxLength: 64, unit: 'grapheme-ascii' })
  .filter((s) => s.trim().length >= 24);

const specArb: fc.Arbitrary<LiveStreamSpec> = fc.record(
  {
    path: fc.stringMatching(/^[a-z0-9_-]{1,12}(\/[a-z0-9_-]{1,12}){0,2}$/),
    ingest: fc.record(
      {
        protocols: subset(INGEST_PROTOCOLS),
        publishTokenSecretRef: fc.option(fc.record({ name: secretName, key: fc.constant('token') }), {
          nil: undefined,
        }),
      },
      { requiredKeys: ['protocols'] },
    ),
    playback: fc.oneof(
      fc.record({
        protocols: subset(PLAYBACK_PROTOCOLS),
        access: fc.constant('public' as const),
        allowedOrigins: fc.constantFrom(['*'], ['https://a.example'], ['https://a.example', 'https://b.example']),
      }),
      fc.record({
        protocols: subset(PLAYBACK_PROTOCOLS),
        access: fc.constant('jwt' as const),
        jwt: fc.record({
          issuer: fc.webUrl(),
          audience: fc.constant('vstream'),
          keysSecretRef: fc.record({ name: secretName, key: fc.constant('jwks.json') }),
        }),
      }),
    ),
    recording: fc.record({
      enabled: fc.boolean(),
      format: fc.constantFrom('fmp4' as const, 'mpegts' as const),
      segmentDuration: duration,
      retention: fc.constantFrom('0s', '24h', '168h'),
      reclaimPolicy: fc.constantFrom('Retain' as const, 'Delete' as const),
    }),
    service: fc.record(
      {
        type: fc.constantFrom('ClusterIP' as const, 'NodePort' as const, 'LoadBalancer' as const),
        externalHost: fc.constantFrom('live.example.com', 'a.b.example'),
      },
      { requiredKeys: ['type'] },
    ),
    tls: fc.record(
      {
        secretRef: fc.record({ name: secretName }),
        allowPlaintext: fc.subarray(['rtmp', 'rtsp'] as ('rtmp' | 'rtsp')[]),
      },
      { requiredKeys: ['secretRef'] },
    ),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<LiveStreamSpec>;

const stream = (spec: LiveStreamSpec): LiveStream => ({
  apiVersion: 'vstream.io/v1alpha1',
  kind: 'LiveStream',
  metadata: { name: 'prop', namespace: 'ns', uid: 'u-1' },
  spec,
});
const render = (spec: LiveStreamSpec) => renderStream(stream(spec), { sidecarImage: 'vstream:test' });
const configOf = (r: RenderedStream) =>
  parse((r.configMap.data as Record<string, string>)['mediamtx.yml']!, { version: '1.1' });
const hashOf = (r: RenderedStream) =>
  ((r.deployment.spec as any).template.metadata.annotations as Record<string, string>)[RESTART_HASH_ANNOTATION];

describe('renderer invariants', () => {
  it('never puts a secret value into a non-Secret object', () => {
    fc.assert(
      fc.property(specArb, secretValue, secretValue, (spec, token, apiToken) => {
        const ls = stream(spec);
        const r = renderStream(ls, { sidecarImage: 'vstream:test' });
        const secrets = [publishSecretObject(ls, token), internalSecretObject(ls, apiToken)];
        const text = JSON.stringify(childObjects(r));
        expect(text).not.toContain(token);
        expect(text).not.toContain(apiToken);
        // and the Secrets do carry them, so the check above is not vacuous
        expect(JSON.stringify(secrets)).toContain(JSON.stringify(token).slice(1, -1));
      }),
    );
  });

  it('emits only keys MediaMTX accepts, with the security settings pinned', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const r = render(spec);
        const c = configOf(r);
        expect(unknownKeys(c, MEDIAMTX_VERSION)).toEqual([]);
        expect(c.authMethod).toBe('http');
        expect(c.authHTTPExclude).toEqual([]);
        expect(c.rtspTransports).toEqual(['tcp']);
        expect(c.moq).toBe(false);
        // TLS lives in the pod (environment + certificate volume), never in the shared config.
        const env = ((r.deployment.spec as any).template.spec.containers[0].env ?? []) as {
          name: string;
          value: string;
        }[];
        if (spec.tls) {
          expect(c).not.toHaveProperty('rtspEncryption');
          const tls = tlsConfig(r.spec);
          expect(unknownKeys(tls, MEDIAMTX_VERSION)).toEqual([]);
          expect(env).toEqual(Object.entries(tls).map(([k, value]) => ({ name: envName(k), value })));
          expect(JSON.stringify(r.configMap)).not.toContain('/var/run/vstream/tls');
        } else {
          expect(c.rtspEncryption).toBe('no');
          expect(env).toEqual([]);
        }
        const paths = Object.entries(c.paths as Record<string, Record<string, unknown>>);
        expect(paths).toHaveLength(1);
        const [name, p] = paths[0]!;
        expect(name).toBe(r.spec.path);
        // MediaMTX lets a newcomer replace the publisher only because the sidecar lets only the same token try.
        expect(p.overridePublisher).toBe(true);
        expect(r.auth.publish.override).toBe('sameToken');
        expect(String(p.recordPath)).toMatch(/^\/recordings\/%path\//);
      }),
    );
  });

  it('opens exactly the ports of the enabled protocols in MediaMTX, the pod and the Service', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const r = render(spec);
        const c = configOf(r);
        const on = new Set([...r.spec.ingest.protocols, ...r.spec.playback.protocols]);
        for (const server of ['rtmp', 'rtsp', 'hls', 'webrtc', 'srt']) expect(c[server]).toBe(on.has(server as never));
        const svcPorts = (r.service.spec as any).ports as { name: string; port: number; protocol: string }[];
        const containerPorts = (r.deployment.spec as any).template.spec.containers[0].ports as {
          name: string;
          containerPort: number;
          protocol: string;
        }[];
        for (const sp of svcPorts) {
          expect(containerPorts).toContainEqual({ name: sp.name, containerPort: sp.port, protocol: sp.protocol });
        }
        expect(svcPorts.some((p) => p.name.startsWith('metrics'))).toBe(false);
        expect(svcPorts.length).toBe(new Set(svcPorts.map((p) => `${p.port}/${p.protocol}`)).size);
      }),
    );
  });

  it('ties recording, the PVC, the Recreate strategy and the reclaim policy together', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const r = render(spec);
        const strategy = (r.deployment.spec as any).strategy.type;
        expect(Boolean(r.recordings)).toBe(r.spec.recording.enabled);
        expect(strategy).toBe(r.spec.recording.enabled ? 'Recreate' : 'RollingUpdate');
        if (r.recordings) {
          const owned = Boolean((r.recordings.metadata as any).ownerReferences);
          expect(owned).toBe(r.spec.recording.reclaimPolicy === 'Delete');
        }
      }),
    );
  });

  it('does not roll the pod for hot-reloadable changes, and does for restart-relevant ones', () => {
    fc.assert(
      fc.property(specArb, duration, (spec, seg) => {
        const base = render(spec);
        const hot = render({
          ...spec,
          recording: { ...spec.recording, segmentDuration: seg, retention: '0s' },
          playback: { ...spec.playback, allowedOrigins: ['https://changed.example'] },
          mediamtx: { logLevel: 'debug' },
        });
        expect(hashOf(hot)).toBe(hashOf(base));
        const all = render({
          ...spec,
          ingest: { ...spec.ingest, protocols: [...INGEST_PROTOCOLS] },
          playback: { ...spec.playback, protocols: [...PLAYBACK_PROTOCOLS] },
        });
        const servers = (r: RenderedStream) => new Set([...r.spec.ingest.protocols, ...r.spec.playback.protocols]).size;
        if (servers(all) !== servers(base)) expect(hashOf(all)).not.toBe(hashOf(base));
        else expect(hashOf(all)).toBe(hashOf(base));
      }),
    );
  });

  it('mounts config as a directory, runs restricted, and is deterministic', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const a = render(spec);
        expect(JSON.stringify(render(spec))).toBe(JSON.stringify(a));
        const pod = (a.deployment.spec as any).template.spec;
        for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
          for (const m of c.volumeMounts) expect(m.subPath).toBeUndefined();
          expect(c.securityContext).toMatchObject({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
          });
        }
        expect(pod.securityContext.seccompProfile.type).toBe('RuntimeDefault');
      }),
    );
  });
});
