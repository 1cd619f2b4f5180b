// Tenancy on the real API server: namespace users get LiveStreams through the built-in view/edit/admin roles
// (aggregated ClusterRoles, resolved by kube-controller-manager's aggregation controller), and with watchNamespaces
// the controller holds Roles in those namespaces only: SubjectAccessReview says so, and a real controller running
// with that ServiceAccount's token reconciles a stream in a watched namespace and leaves the others alone.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CHART, helm } from '../../dev/chart.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import { createStream, inProcessController, logLines } from '../support/controller.ts';
import { clients, waitUntil } from '../support/kube.ts';

const c = clients();
const kube = c.kube;
const existing = inject('clusterTier') === 'existing';
const suffix = randomBytes(3).toString('hex');
const RELEASE_NS = `tenants-${suffix}`;
const WATCHED = `team-a-${suffix}`;
const OTHER = `team-b-${suffix}`;
const SA = `system:serviceaccount:${RELEASE_NS}:tenants-vstream`;
const kubeArgs = () => ['--kubeconfig', inject('kubeconfig')];

type Attrs = { verb: string; group?: string; resource: string; namespace?: string; subresource?: string };
async function allowed(user: string, groups: string[], a: Attrs): Promise<boolean> {
  const r = await kube.request<{ status: { allowed: boolean } }>(
    'POST',
    '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user, groups, resourceAttributes: { group: '', ...a } },
      },
    },
  );
  return r.status.allowed;
}
const saGroups = ['system:serviceaccounts', `system:serviceaccounts:${RELEASE_NS}`, 'system:authenticated'];
const userGroups = ['system:authenticated'];

describe.skipIf(existing)('tenancy', () => {
  beforeAll(async () => {
    for (const ns of [WATCHED, OTHER]) await c.core.createNamespace({ body: { metadata: { name: ns } } });
    helm([
      'install',
      'tenants',
      CHART,
      '--namespace',
      RELEASE_NS,
      '--create-namespace',
      '--set',
      `watchNamespaces={${WATCHED}}`,
      '--set',
      'replicaCount=1',
      ...kubeArgs(),
    ]);
    // alice edits, bob views, carol administers WATCHED, through the built-in roles only.
    for (const [user, role] of [
      ['alice', 'edit'],
      ['bob', 'view'],
      ['carol', 'admin'],
    ] as const) {
      await kube.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${WATCHED}/rolebindings`, {
        body: {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: `${user}-${role}` },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
        },
      });
    }
  });
  afterAll(() => {
    if (!existing) helm(['uninstall', 'tenants', '--namespace', RELEASE_NS, ...kubeArgs()]);
  });

  it('gives namespace users LiveStreams through the built-in view, edit and admin roles', async () => {
    const ls = (verb: string, namespace = WATCHED, subresource?: string) => ({
      verb,
      group: 'vstream.io',
      resource: 'livestreams',
      namespace,
      ...(subresource ? { subresource } : {}),
    });
    // The aggregation controller folds our ClusterRoles into edit/view/admin asynchronously.
    await waitUntil('aggregated roles', async () => allowed('alice', userGroups, ls('create')), 30_000);
    const want: [string, Attrs, boolean][] = [
      ['alice', ls('create'), true],
      ['alice', ls('update'), true],
      ['alice', ls('patch'), true],
      ['alice', ls('delete'), true],
      ['alice', ls('get', WATCHED, 'status'), true],
      ['alice', ls('create', OTHER), false], // only where she is bound
      ['alice', ls('patch', WATCHED, 'status'), false], // status is the controller's
      ['bob', ls('list'), true],
      ['bob', ls('watch'), true],
      ['bob', ls('get', WATCHED, 'status'), true],
      ['bob', ls('create'), false],
      ['bob', ls('delete'), false],
      ['bob', { verb: 'get', resource: 'secrets', namespace: WATCHED }, false], // no publish tokens for viewers
      ['carol', ls('deletecollection'), true],
      ['carol', ls('create'), true],
    ];
    const wrong: string[] = [];
    for (const [user, a, expected] of want)
      if ((await allowed(user, userGroups, a)) !== expected)
        wrong.push(`${user} ${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''} in ${a.namespace}`);
    expect(wrong).toEqual([]);
  });

  it('with watchNamespaces, the controller holds Roles in those namespaces and nothing cluster-wide', async () => {
    const want: [Attrs, boolean][] = [];
    for (const [ns, inside] of [
      [WATCHED, true],
      [OTHER, false],
      [undefined, false], // cluster-wide list/watch
    ] as const) {
      for (const a of [
        { verb: 'list', group: 'vstream.io', resource: 'livestreams' },
        { verb: 'watch', group: 'vstream.io', resource: 'livestreams' },
        { verb: 'patch', group: 'vstream.io', resource: 'livestreams', subresource: 'status' },
        { verb: 'get', resource: 'secrets' },
        { verb: 'list', resource: 'secrets' },
        { verb: 'create', resource: 'secrets' },
        { verb: 'create', resource: 'configmaps' },
        { verb: 'patch', group: 'apps', resource: 'deployments' },
        { verb: 'create', group: 'events.k8s.io', resource: 'events' },
      ])
        want.push([{ ...a, ...(ns ? { namespace: ns } : {}) }, inside]);
    }
    want.push([{ verb: 'delete', resource: 'secrets', namespace: WATCHED }, false]);
    want.push([{ verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: RELEASE_NS }, false]);
    const wrong: string[] = [];
    for (const [a, expected] of want)
      if ((await allowed(SA, saGroups, a)) !== expected)
        wrong.push(`${expected ? 'denied' : 'allowed'}: ${a.verb} ${a.resource} in ${a.namespace ?? '(all)'}`);
    expect(wrong).toEqual([]);
    const crb = await kube.getOrUndefined('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/tenants-vstream');
    expect(crb).toBeUndefined();
  });

  it("a controller with that ServiceAccount's token reconciles the watched namespace only", async () => {
    const tr = await kube.request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${RELEASE_NS}/serviceaccounts/tenants-vstream/token`,
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } } },
    );
    const admin = JSON.parse(readFileSync(inject('kubeconfig'), 'utf8')) as {
      clusters: { name: string; cluster: Record<string, unknown> }[];
    };
    const file = join(mkdtempSync(join(tmpdir(), 'vstream-tenant-')), 'kubeconfig');
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: admin.clusters[0]!.cluster }],
        users: [{ name: 'sa', user: { token: tr.status.token } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'sa' } }],
        'current-context': 'c',
      }),
    );
    const before = logLines.length;
    const ctl = await inProcessController({ kubeconfig: file, watchNamespaces: [WATCHED] });
    try {
      await waitUntil('caches synced', async () => (await fetch(`${ctl.opsAddr}/readyz`)).status === 200, 30_000);
      await createStream(kube, WATCHED, 'inside');
      await createStream(kube, OTHER, 'outside');
      await waitUntil('the watched stream reconciled', async () =>
        kube.getOrUndefined(resourcePath('v1', 'ConfigMap', WATCHED, 'inside-mediamtx')),
      );
      await new Promise((r) => setTimeout(r, 2000));
      expect(await kube.getOrUndefined(resourcePath('v1', 'ConfigMap', OTHER, 'outside-mediamtx'))).toBeUndefined();
      // \b: a log line's time (ms since 1970) can hold the digits 403 (it did once in a CI run).
      const forbidden = logLines.slice(before).filter((l) => /forbidden|\b403\b/i.test(l));
      expect(forbidden).toEqual([]);
    } finally {
      await ctl.shutdown();
    }
  });
});
