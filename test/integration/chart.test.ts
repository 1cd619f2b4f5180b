// The Helm chart: lint, golden renders, plain manifests in sync, install/upgrade/uninstall on the local control
// plane (pods via kwok), and RBAC that allows exactly what the controller does.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CHART, helm, renderDeployManifests } from '../../dev/chart.ts';
import { REPO_ROOT } from '../../dev/tools.ts';
import { API_VERSION } from '../../src/api/livestream.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import { clients, errorBody, waitUntil } from '../support/kube.ts';

const c = clients();
const kube = c.kube;
const NS = 'vstream-system';
const kubeArgs = () => ['--kubeconfig', inject('kubeconfig')];
const existing = inject('clusterTier') === 'existing';

const FULL_VALUES = join(REPO_ROOT, 'test/fixtures/chart-full-values.yaml');
/** `helm template` of the chart as release vstream in the controller's namespace. */
const template = (...extra: string[]) => helm(['template', 'vstream', CHART, '--namespace', NS, ...extra]);

function golden(name: string, text: string) {
  const path = join(REPO_ROOT, 'test/golden', name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(path, text);
  if (!existsSync(path)) throw new Error(`missing golden file ${path}: run UPDATE_GOLDEN=1`);
  expect(text).toBe(readFileSync(path, 'utf8'));
}

describe('the chart, offline', () => {
  it('passes helm lint (default and full values)', () => {
    expect(helm(['lint', CHART])).toContain('0 chart(s) failed');
    expect(helm(['lint', CHART, '-f', join(REPO_ROOT, 'test/fixtures/chart-full-values.yaml')])).toContain(
      '0 chart(s) failed',
    );
  });

  it('renders the golden manifests for default and full-featured values', () => {
    golden('chart-default.yaml', template());
    const full = template('-f', FULL_VALUES, '--api-versions', 'monitoring.coreos.com/v1');
    golden('chart-full.yaml', full);
    const kinds = parseAllDocuments(full)
      .map((d) => (d.toJS() as { kind?: string } | null)?.kind)
      .filter(Boolean);
    for (const k of [
      'ServiceMonitor',
      'PodMonitor',
      'PrometheusRule',
      'ConfigMap',
      'Deployment',
      'ClusterRole',
      'Role',
    ])
      expect(kinds).toContain(k);
  });

  it('leaves out monitoring objects when their CRDs are absent', () => {
    const out = template('-f', FULL_VALUES);
    expect(out).not.toContain('kind: ServiceMonitor');
    expect(out).not.toContain('kind: PrometheusRule');
  });

  it('rejects bad values with a message naming the value', () => {
    for (const [set, field] of [
      ['replicaCount=many', '/replicaCount'],
      ['probe=sometimes', '/probe'],
      ['metrics.port=80', '/metrics/port'],
      ['imageTypo=x', 'imageTypo'],
    ]) {
      let msg = '';
      try {
        helm(['template', 'vstream', CHART, '--set', set!]);
      } catch (e) {
        msg = String((e as { stderr?: string }).stderr);
      }
      expect(msg, set).toContain(field!);
    }
  });

  it('uses the same image for the controller and the sidecar it injects', () => {
    const out = template();
    const image = /image: (\S+)/.exec(out)?.[1];
    expect(out).toContain(`--sidecar-image=${image}`);
  });

  it('keeps deploy/vstream.yaml in sync with the chart', () => {
    expect(renderDeployManifests(), 'deploy/vstream.yaml is stale: run npm run gen:deploy').toBe(
      readFileSync(join(REPO_ROOT, 'deploy/vstream.yaml'), 'utf8'),
    );
  });
});

describe('the chart on a cluster', () => {
  beforeAll(() => {
    if (existing) return;
    helm([
      'install',
      'vstream',
      CHART,
      '--namespace',
      NS,
      '--create-namespace',
      '--wait',
      '--timeout',
      '120s',
      ...kubeArgs(),
    ]);
  });

  it('installs: CRD Established, controller Deployment Available, a LiveStream accepted', async () => {
    if (existing) return;
    const crd = await kube.get<{ status: { conditions: { type: string; status: string }[] } }>(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/livestreams.vstream.io',
    );
    expect(crd.status.conditions.find((x) => x.type === 'Established')?.status).toBe('True');
    await waitUntil('controller Available', async () => {
      const d = await kube.get<{ status?: { availableReplicas?: number } }>(
        resourcePath('apps/v1', 'Deployment', NS, 'vstream'),
      );
      return d.status?.availableReplicas === 2;
    });
    const example = parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy/examples/minimal.yaml'), 'utf8'))[0]!.toJS();
    example.metadata.namespace = NS;
    const created = await kube.create(example);
    expect(created.apiVersion).toBe(API_VERSION);
  });

  it('upgrades with new values', async () => {
    if (existing) return;
    helm([
      'upgrade',
      'vstream',
      CHART,
      '--namespace',
      NS,
      '--set',
      'replicaCount=1',
      '--set',
      'logLevel=debug',
      '--wait',
      '--timeout',
      '120s',
      ...kubeArgs(),
    ]);
    await waitUntil('1 replica', async () => {
      const d = await kube.get<{ spec: { replicas: number }; status?: { availableReplicas?: number } }>(
        resourcePath('apps/v1', 'Deployment', NS, 'vstream'),
      );
      return d.spec.replicas === 1 && d.status?.availableReplicas === 1;
    });
  });

  it('grants the controller exactly what it needs (SubjectAccessReview)', async () => {
    if (existing) return;
    const sa = `system:serviceaccount:${NS}:vstream`;
    const can = async (
      verb: string,
      group: string,
      resource: string,
      namespace = 'events',
      name?: string,
      subresource?: string,
    ) => {
      const r = await kube.request<{ status: { allowed: boolean } }>(
        'POST',
        '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        {
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              user: sa,
              groups: ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated'],
              resourceAttributes: {
                verb,
                group,
                resource,
                namespace,
                ...(name ? { name } : {}),
                ...(subresource ? { subresource } : {}),
              },
            },
          },
        },
      );
      return r.status.allowed;
    };
    const needed: [string, string, string, string?, string?, string?][] = [
      ['list', 'vstream.io', 'livestreams'],
      ['watch', 'vstream.io', 'livestreams'],
      ['patch', 'vstream.io', 'livestreams', 'events', 'x', 'status'],
      ['create', '', 'configmaps'],
      ['patch', '', 'configmaps'],
      ['watch', '', 'configmaps'],
      ['create', '', 'services'],
      ['patch', '', 'services'],
      ['create', '', 'persistentvolumeclaims'],
      ['patch', '', 'persistentvolumeclaims'],
      ['create', 'apps', 'deployments'],
      ['patch', 'apps', 'deployments'],
      ['watch', 'apps', 'deployments'],
      ['get', '', 'secrets'],
      ['create', '', 'secrets'],
      ['watch', '', 'secrets'],
      ['create', 'events.k8s.io', 'events'],
      ['get', 'coordination.k8s.io', 'leases', NS, 'vstream-controller'],
      ['update', 'coordination.k8s.io', 'leases', NS, 'vstream-controller'],
      ['create', 'coordination.k8s.io', 'leases', NS],
    ];
    const forbidden: [string, string, string, string?, string?][] = [
      ['delete', '', 'secrets'],
      ['update', '', 'secrets'],
      ['patch', '', 'secrets'],
      ['delete', '', 'persistentvolumeclaims'],
      ['delete', 'apps', 'deployments'],
      ['create', '', 'pods'],
      ['patch', 'vstream.io', 'livestreams'],
      ['delete', 'vstream.io', 'livestreams'],
      ['create', 'rbac.authorization.k8s.io', 'clusterroles'],
      ['update', 'coordination.k8s.io', 'leases', NS, 'some-other-lease'],
      ['get', 'coordination.k8s.io', 'leases', 'events', 'vstream-controller'],
    ];
    const wrong: string[] = [];
    for (const [verb, group, res, ns, name, sub] of needed)
      if (!(await can(verb, group, res, ns, name, sub)))
        wrong.push(`denied: ${verb} ${group}/${res}${sub ? `/${sub}` : ''}`);
    for (const [verb, group, res, ns, name] of forbidden)
      if (await can(verb, group, res, ns, name)) wrong.push(`allowed: ${verb} ${group}/${res}`);
    expect(wrong).toEqual([]);
  });

  it('uninstalls, leaving the CRD, LiveStreams and recordings claims in place', async () => {
    if (existing) return;
    await c.core.createNamespacedPersistentVolumeClaim({
      namespace: NS,
      body: {
        metadata: { name: 'town-hall-recordings', labels: { 'app.kubernetes.io/managed-by': 'vstream' } },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    });
    helm(['uninstall', 'vstream', '--namespace', NS, '--wait', ...kubeArgs()]);
    await waitUntil('controller gone', async () => {
      try {
        await kube.get(resourcePath('apps/v1', 'Deployment', NS, 'vstream'));
        return false;
      } catch (e) {
        return errorBody(e).includes('404');
      }
    });
    await kube.get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/livestreams.vstream.io');
    await kube.get(resourcePath(API_VERSION, 'LiveStream', NS, 'town-hall'));
    await kube.get(resourcePath('v1', 'PersistentVolumeClaim', NS, 'town-hall-recordings'));
  });
});
