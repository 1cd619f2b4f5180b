// --watch-namespaces: the controller lists and watches every kind per watched namespace and never asks for a
// cluster-wide collection (which namespaced Roles forbid). Against a fake API server on 127.0.0.1 (a mock, named as
// such) that answers lists and holds watches open; the real-RBAC proof is test/integration/tenancy.test.ts.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runController } from '../../src/controller/main.ts';
import { namespacedPath, parseNamespaces, parseObjectNames } from '../../src/controller/namespaces.ts';
import { renderStream } from '../../src/render/objects.ts';
import { fakeApiServer, kubeconfigYaml } from './fake-apiserver.ts';

let api: Awaited<ReturnType<typeof fakeApiServer>>;
let kubeconfig: string;
beforeAll(async () => {
  api = await fakeApiServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200); // held open, like an idle watch
      return;
    }
    const ns = /\/namespaces\/([^/]+)\//.exec(url.pathname)?.[1];
    const items =
      ns && url.pathname.endsWith('/livestreams')
        ? [{ apiVersion: 'vstream.io/v1alpha1', kind: 'LiveStream', metadata: { name: `s-${ns}`, namespace: ns } }]
        : [];
    res.end(JSON.stringify({ kind: 'List', metadata: { resourceVersion: '7' }, items }));
  });
  kubeconfig = join(mkdtempSync(join(tmpdir(), 'vstream-ns-')), 'config');
  writeFileSync(kubeconfig, kubeconfigYaml(api.url, { token: 'static-token-0123456789' }));
});
afterAll(() => api.close());

describe('namespaced collection paths', () => {
  it('puts the namespace before the resource, for core and group APIs', () => {
    expect(namespacedPath('/api/v1/configmaps', 'team-a')).toBe('/api/v1/namespaces/team-a/configmaps');
    expect(namespacedPath('/apis/vstream.io/v1alpha1/livestreams', 'b')).toBe(
      '/apis/vstream.io/v1alpha1/namespaces/b/livestreams',
    );
  });

  it('parses flag values: trimmed, unique, and a bad name is an error naming it', () => {
    expect(parseNamespaces(' team-a,team-b,,team-a ')).toEqual(['team-a', 'team-b']);
    expect(() => parseNamespaces('team-a,Team_B')).toThrow('"Team_B" is not a namespace name');
    expect(parseObjectNames('regcred,registry.example.com')).toEqual(['regcred', 'registry.example.com']);
    expect(() => parseObjectNames('a b')).toThrow('"a b" is not an object name');
  });
});

describe('a controller with --watch-namespaces', () => {
  it('lists and watches each kind in each watched namespace only, and serves the union', async () => {
    const ctl = await runController({
      kubeconfig,
      sidecarImage: 'ghcr.io/vstream/vstream:test',
      metricsAddr: '127.0.0.1:0',
      probe: 'off',
      log: pino({ level: 'silent' }),
      watchNamespaces: ['team-a', 'team-b'],
    });
    try {
      const paths = [...new Set(api.seen.map((r) => new URL(r.url, 'http://x').pathname))].sort();
      const kinds = [
        '/api/v1/configmaps',
        '/api/v1/persistentvolumeclaims',
        '/api/v1/secrets',
        '/api/v1/services',
        '/apis/apps/v1/deployments',
        '/apis/vstream.io/v1alpha1/livestreams',
      ];
      const want = kinds.flatMap((k) => ['team-a', 'team-b'].map((ns) => namespacedPath(k, ns))).sort();
      // Only namespaced collections (the stream reconciles that follow may GET single objects in those namespaces).
      expect(paths.filter((p) => !/\/namespaces\/[^/]+\/[^/]+\/[^/]+$/.test(p))).toEqual(want);
      expect(paths.every((p) => /\/namespaces\/team-[ab]\//.test(p))).toBe(true);
      expect(
        ctl.caches.streams
          .list()
          .map((s) => `${s.metadata.namespace}/${s.metadata.name}`)
          .sort(),
      ).toEqual(['team-a/s-team-a', 'team-b/s-team-b']);
      expect(ctl.caches.streams.get('team-b', 's-team-b')?.metadata.name).toBe('s-team-b');
      expect(ctl.caches.streams.get('team-c', 's-team-b')).toBeUndefined();
      const ready = await fetch(`${ctl.opsAddr}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await ctl.shutdown();
    }
  });
});

describe('--image-pull-secrets', () => {
  it('adds the pull secrets to the stream pod, and nothing when none are given', () => {
    const ls = {
      apiVersion: 'vstream.io/v1alpha1',
      kind: 'LiveStream',
      metadata: { name: 'a', namespace: 'n', uid: 'u' },
      spec: {},
    };
    const pod = (o: Parameters<typeof renderStream>[1]) =>
      (renderStream(ls as never, o).deployment as unknown as { spec: { template: { spec: Record<string, unknown> } } })
        .spec.template.spec;
    expect(pod({ sidecarImage: 'x', imagePullSecrets: ['regcred'] }).imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(pod({ sidecarImage: 'x' })).not.toHaveProperty('imagePullSecrets');
  });
});
