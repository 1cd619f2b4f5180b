// The Helm chart: lint, golden renders, plain manifests in sync, install/upgrade/uninstall on the local control
// plane (pods via kwok), and RBAC that allows exactly what the controller does.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments, parseDocument } from 'yaml';
import { CHART, helm, renderDeployManifests } from '../../dev/chart.ts';
import { REPO_ROOT, toolPath } from '../../dev/tools.ts';
import { CHART_README, renderChartReadme } from '../../scripts/gen-chart-docs.ts';
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

type Obj = Record<string, any>;
const objects = (text: string): Obj[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => Boolean(o?.kind));
/** helm's stderr when the command fails ('' when it succeeds). */
function helmError(args: string[]): string {
  try {
    helm(args);
    return '';
  } catch (e) {
    return String((e as { stderr?: string }).stderr);
  }
}

function golden(name: string, text: string) {
  const path = join(REPO_ROOT, 'test/golden', name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(path, text);
  if (!existsSync(path)) throw new Error(`missing golden file ${path}: run UPDATE_GOLDEN=1`);
  expect(text).toBe(readFileSync(path, 'utf8'));
}

describe('the chart, offline', () => {
  it('passes helm lint (default, full and tenant values)', () => {
    expect(helm(['lint', CHART, '-f', join(CHART, 'ci/tenants-values.yaml')])).toContain('0 chart(s) failed');
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
      'PodDisruptionBudget',
      'NetworkPolicy',
    ])
      expect(kinds).toContain(k);
  });

  it('fails, naming the CRD and the value, when a monitor is asked for and the Prometheus Operator is absent', () => {
    for (const [value, kind] of [
      ['metrics.serviceMonitor.enabled', 'ServiceMonitor'],
      ['metrics.podMonitor.enabled', 'PodMonitor'],
      ['prometheusRule.enabled', 'PrometheusRule'],
    ] as const) {
      const msg = helmError(['template', 'vstream', CHART, '--set', `${value}=true`]);
      expect(msg, value).toContain(`${value}=true needs the Prometheus Operator's ${kind} CRD`);
      expect(msg, value).toContain('--api-versions monitoring.coreos.com/v1');
    }
    // Not asked for: nothing rendered, nothing required.
    expect(template()).not.toContain('monitoring.coreos.com');
  });

  it('takes scrapeTimeout, relabelings, metricRelabelings, namespace and labels on both monitors', () => {
    const docs = objects(template('-f', FULL_VALUES, '--api-versions', 'monitoring.coreos.com/v1'));
    const sm = docs.find((d) => d.kind === 'ServiceMonitor')!;
    expect(sm.metadata.namespace).toBe('monitoring');
    expect(sm.metadata.labels.release).toBe('prometheus');
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: [NS] });
    expect(sm.spec.endpoints[0]).toMatchObject({
      scrapeTimeout: '5s',
      relabelings: [{ targetLabel: 'cluster', replacement: 'prod-eu' }],
    });
    const pm = docs.find((d) => d.kind === 'PodMonitor')!;
    expect(pm.metadata.namespace).toBe('monitoring');
    const [mediamtx, auth] = pm.spec.podMetricsEndpoints;
    expect(mediamtx.relabelings.map((r: { targetLabel: string }) => r.targetLabel)).toEqual([
      'stream',
      'stream_namespace',
      'cluster',
    ]);
    expect(mediamtx.metricRelabelings[0].action).toBe('drop'); // per-connection series first
    expect(mediamtx.metricRelabelings.at(-1).regex).toBe('hls_muxers_bytes_sent');
    expect(auth.port).toBe('auth-metrics');
    for (const kind of ['PrometheusRule', 'ConfigMap'])
      expect(
        docs.find((d) => d.kind === kind && d.metadata.namespace === 'monitoring'),
        kind,
      ).toBeDefined();
  });

  it('works as a subchart: global values are allowed and the parent can override names and namespace', () => {
    const parent = mkdtempSync(join(tmpdir(), 'vstream-parent-'));
    writeFileSync(
      join(parent, 'Chart.yaml'),
      'apiVersion: v2\nname: platform\nversion: 1.0.0\ndependencies:\n  - name: vstream\n    version: 0.1.0\n',
    );
    writeFileSync(
      join(parent, 'values.yaml'),
      'global: {imageRegistry: registry.example.com, storageClass: fast}\nvstream: {namespaceOverride: media, nameOverride: streams}\n',
    );
    mkdirSync(join(parent, 'charts'));
    cpSync(CHART, join(parent, 'charts/vstream'), { recursive: true });
    const docs = objects(helm(['template', 'platform', parent, '--namespace', 'platform']));
    const d = docs.find((x) => x.kind === 'Deployment')!;
    expect(d.metadata.name).toBe('platform-streams');
    expect(d.metadata.namespace).toBe('media');
    expect(d.metadata.labels['app.kubernetes.io/name']).toBe('streams');
    const crb = docs.find((x) => x.kind === 'ClusterRoleBinding')!;
    expect(crb.subjects[0]).toMatchObject({ name: 'platform-streams', namespace: 'media' });
    expect(template('--set', 'global.anything=1')).toContain('kind: Deployment');
  });

  it('honours fullnameOverride, commonLabels, extraArgs, extraEnv and stream imagePullSecrets', () => {
    const docs = objects(
      template(
        '--set',
        'fullnameOverride=media-operator',
        '--set',
        'commonLabels.team=video',
        '--set',
        'extraArgs={--concurrency=3}',
        '--set',
        'extraEnv[0].name=TZ,extraEnv[0].value=UTC',
        '--set',
        'streams.imagePullSecrets={regcred,mirror}',
      ),
    );
    for (const o of docs) expect(o.metadata.labels.team, `${o.kind} ${o.metadata.name}`).toBe('video');
    const d = docs.find((x) => x.kind === 'Deployment')!;
    expect(d.metadata.name).toBe('media-operator');
    const c = d.spec.template.spec.containers[0];
    expect(c.args).toContain('--concurrency=3');
    expect(c.args).toContain('--image-pull-secrets=regcred,mirror');
    expect(c.env).toContainEqual({ name: 'TZ', value: 'UTC' });
    expect(d.spec.template.metadata.labels.team).toBe('video');
  });

  it('spreads two replicas (soft anti-affinity, zones) under a PodDisruptionBudget, and one replica not', () => {
    const two = objects(template());
    const spec = two.find((x) => x.kind === 'Deployment')!.spec.template.spec;
    expect(
      spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey,
    ).toBe('kubernetes.io/hostname');
    expect(spec.topologySpreadConstraints[0]).toMatchObject({
      topologyKey: 'topology.kubernetes.io/zone',
      whenUnsatisfiable: 'ScheduleAnyway',
    });
    expect(two.find((x) => x.kind === 'PodDisruptionBudget')!.spec.maxUnavailable).toBe(1);
    const one = objects(template('--set', 'replicaCount=1'));
    expect(one.find((x) => x.kind === 'PodDisruptionBudget')).toBeUndefined();
    expect(one.find((x) => x.kind === 'Deployment')!.spec.template.spec.affinity).toBeUndefined();
  });

  it('renders a NetworkPolicy only when asked', () => {
    expect(template()).not.toContain('kind: NetworkPolicy');
    const np = objects(template('--set', 'networkPolicy.enabled=true')).find((x) => x.kind === 'NetworkPolicy')!;
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(JSON.stringify(np.spec.egress)).toContain('9997');
  });

  it('describes every value in values.schema.json, and every value in values.yaml is in the schema', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
    const undescribed: string[] = [];
    const walk = (node: Record<string, any>, path: string) => {
      for (const [k, v] of Object.entries(node.properties ?? {})) {
        if (!(v as { description?: string }).description) undescribed.push(`${path}${k}`);
        walk(v as Record<string, any>, `${path}${k}.`);
      }
    };
    walk(schema, '');
    expect(undescribed).toEqual([]);
    expect(schema.properties.global).toBeDefined();
    const values = parseDocument(readFileSync(join(CHART, 'values.yaml'), 'utf8')).toJS();
    const missing: string[] = [];
    const check = (v: Record<string, unknown>, s: Record<string, any>, path: string) => {
      for (const [k, child] of Object.entries(v)) {
        const cs = s.properties?.[k];
        if (!cs) missing.push(`${path}${k}`);
        else if (child && typeof child === 'object' && !Array.isArray(child) && cs.properties)
          check(child as Record<string, unknown>, cs, `${path}${k}.`);
      }
    };
    check(values, schema, '');
    expect(missing).toEqual([]);
  });

  it('has a README generated from the values comments by helm-docs, up to date', () => {
    expect(renderChartReadme(), 'charts/vstream/README.md is stale: run npm run gen:chart-docs').toBe(
      readFileSync(CHART_README, 'utf8'),
    );
  });

  it('passes ct lint (chart-testing: Chart.yaml schema, yamllint, helm lint with every ci/*-values.yaml)', () => {
    const ct = toolPath('ct');
    const etc = dirname(ct);
    const out = execFileSync(
      ct,
      [
        'lint',
        '--charts',
        CHART,
        '--chart-yaml-schema',
        join(etc, 'chart_schema.yaml'),
        '--lint-conf',
        join(etc, 'lintconf.yaml'),
        '--validate-maintainers=false', // would ask GitHub about each maintainer
        '--check-version-increment=false', // no target branch to compare with
      ],
      {
        encoding: 'utf8',
        cwd: REPO_ROOT,
        env: { ...process.env, PATH: `${dirname(toolPath('helm'))}:${process.env.PATH}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    expect(out).toContain('All charts linted successfully');
  });

  it('labels the CRD with the release it came from, and carries Artifact Hub metadata', () => {
    const crd = parseDocument(readFileSync(join(CHART, 'crds/vstream.io_livestreams.yaml'), 'utf8')).toJS();
    const chart = parseDocument(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')).toJS();
    expect(crd.metadata.labels['app.kubernetes.io/version']).toBe(chart.appVersion);
    for (const k of [
      'artifacthub.io/crds',
      'artifacthub.io/crdsExamples',
      'artifacthub.io/images',
      'artifacthub.io/license',
    ])
      expect(chart.annotations[k], k).toBeTruthy();
    expect(chart.maintainers.length).toBeGreaterThan(0);
  });

  it('rejects bad values with a message naming the value', () => {
    for (const [set, field] of [
      ['replicaCount=many', '/replicaCount'],
      ['probe=sometimes', '/probe'],
      ['metrics.port=80', '/metrics/port'],
      ['imageTypo=x', 'imageTypo'],
      ['watchNamespaces={Team_A}', '/watchNamespaces/0'],
      ['metrics.podMonitor.interval=30', '/metrics/podMonitor/interval'],
    ]) {
      expect(helmError(['template', 'vstream', CHART, '--set', set!]), set).toContain(field!);
    }
    // The dropped-stream alert needs stream pods scraped at most every 5 s.
    expect(
      helmError([
        'template',
        'vstream',
        CHART,
        '--api-versions',
        'monitoring.coreos.com/v1',
        '--set',
        'prometheusRule.enabled=true',
        '--set',
        'metrics.podMonitor.interval=15s',
      ]),
    ).toContain('needs metrics.podMonitor.interval of at most 5s (got 15s)');
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
      ['get', 'apiextensions.k8s.io', 'customresourcedefinitions', '', 'livestreams.vstream.io'],
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
      ['get', 'apiextensions.k8s.io', 'customresourcedefinitions', '', 'other.example.com'],
      ['list', 'apiextensions.k8s.io', 'customresourcedefinitions', ''],
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
