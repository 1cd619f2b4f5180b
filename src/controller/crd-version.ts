// Helm installs crds/ once and never upgrades them, so after `helm upgrade` a cluster can run this controller
// against the LiveStream schema of an older release: fields it writes get pruned, defaults it relies on are missing.
// The CRD carries its release in the app.kubernetes.io/version label (src/api/crd.ts); this compares it with ours at
// start and then periodically, and says so when the CRD is older: a warning log line, a Warning Event on the CRD,
// and the gauge vstream_crd_outdated (1 while it is). It reads one object and writes nothing but that Event.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { GROUP, PLURAL } from '../api/livestream.ts';
import { type Kube, KubeError } from '../kube/rest.ts';
import { VERSION } from '../version.ts';

export const CRD_NAME = `${PLURAL}.${GROUP}`;
export const CRD_PATH = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`;
export const CRD_VERSION_LABEL = 'app.kubernetes.io/version';
export const CRD_OUTDATED_REASON = 'CRDOutdated';

type Semver = { core: number[]; pre: string[] };

function parse(v: string): Semver | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(v.trim());
  if (!m) return undefined;
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split('.') : [] };
}

/** Semantic-version order of a and b (-1, 0, 1), or undefined when either is not a version. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 | undefined {
  const x = parse(a);
  const y = parse(b);
  if (!x || !y) return undefined;
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return x.core[i]! < y.core[i]! ? -1 : 1;
  // A pre-release sorts before its release; identifiers compare numerically when both are numbers.
  if (!x.pre.length || !y.pre.length) return x.pre.length === y.pre.length ? 0 : x.pre.length ? -1 : 1;
  for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i];
    const q = y.pre[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    const [np, nq] = [/^\d+$/.test(p), /^\d+$/.test(q)];
    if (np && nq) return Number(p) < Number(q) ? -1 : 1;
    if (np !== nq) return np ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return 0;
}

export type CrdVerdict =
  | { state: 'current' | 'newer'; installed: string }
  | { state: 'outdated'; installed: string; message: string }
  | { state: 'unknown'; installed: string; message: string };

/** What the installed CRD's label says about it, compared with this controller's release. Pure. */
export function judgeCrd(labels: Record<string, string> | undefined, ours = VERSION): CrdVerdict {
  const installed = labels?.[CRD_VERSION_LABEL] ?? '';
  const upgrade = `apply the CRD of release ${ours} (kubectl apply --server-side -f crds/ from the chart, or deploy/vstream.yaml): Helm does not upgrade CRDs`;
  if (!installed)
    return {
      state: 'outdated',
      installed: '',
      message: `CustomResourceDefinition ${CRD_NAME} has no ${CRD_VERSION_LABEL} label, so it predates release ${ours} of the controller; ${upgrade}`,
    };
  const order = compareVersions(installed, ours);
  if (order === undefined)
    return {
      state: 'unknown',
      installed,
      message: `CustomResourceDefinition ${CRD_NAME} has ${CRD_VERSION_LABEL}=${installed}, not a version the controller (${ours}) can compare`,
    };
  if (order < 0)
    return {
      state: 'outdated',
      installed,
      message: `CustomResourceDefinition ${CRD_NAME} is from release ${installed}, older than the controller (${ours}); ${upgrade}`,
    };
  return { state: order === 0 ? 'current' : 'newer', installed };
}

export interface CrdVersionCheckOptions {
  /** How often the CRD is read again (default 10 minutes). */
  intervalMs?: number;
  /** Who emits the Event (the controller's identity). */
  instance: string;
  ours?: string;
}

/** Reads the CRD now and every intervalMs; returns stop(). Never throws: a failed read is logged and retried. */
export function startCrdVersionCheck(kube: Kube, log: Logger, registry: Registry, opts: CrdVersionCheckOptions) {
  const ours = opts.ours ?? VERSION;
  const gauge = new Gauge({
    name: 'vstream_crd_outdated',
    help: 'Whether the installed LiveStream CRD is from an older release than the controller (1) or not (0)',
    labelNames: ['crd_version', 'controller_version'],
    registers: [registry],
  });
  let lastReported = '';
  let forbiddenLogged = false;

  const check = async () => {
    let crd: { metadata: { labels?: Record<string, string>; uid?: string } };
    try {
      crd = await kube.get(CRD_PATH);
    } catch (e) {
      if (e instanceof KubeError && e.status === 403) {
        if (!forbiddenLogged) log.info({ crd: CRD_NAME }, 'cannot read the CRD (RBAC): its version is not checked');
        forbiddenLogged = true;
      } else log.warn({ crd: CRD_NAME, error: (e as Error).message }, 'reading the CRD for its version failed');
      return;
    }
    const v = judgeCrd(crd.metadata.labels, ours);
    gauge.reset();
    gauge.set({ crd_version: v.installed, controller_version: ours }, v.state === 'outdated' ? 1 : 0);
    const key = `${v.state}/${v.installed}`;
    if (key === lastReported) return;
    lastReported = key;
    if (v.state === 'outdated') {
      log.warn({ crd: CRD_NAME, crdVersion: v.installed, controllerVersion: ours }, v.message);
      await emitEvent(kube, log, opts.instance, crd.metadata.uid, v.message);
    } else if (v.state === 'unknown') log.warn({ crd: CRD_NAME, crdVersion: v.installed }, v.message);
    else log.info({ crd: CRD_NAME, crdVersion: v.installed, controllerVersion: ours }, `CRD version ${v.state}`);
  };

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = async () => {
    await check();
    if (!stopped) timer = setTimeout(loop, opts.intervalMs ?? 10 * 60_000).unref();
  };
  const first = loop();
  return {
    /** Resolves after the first check. */
    first,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** A Warning Event regarding the CRD. A cluster-scoped object's Events live in `default`; best effort. */
async function emitEvent(kube: Kube, log: Logger, instance: string, uid: string | undefined, note: string) {
  try {
    await kube.create({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${CRD_NAME}.${randomBytes(8).toString('hex')}`, namespace: 'default' },
      eventTime: new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'),
      reportingController: 'vstream.io/controller',
      reportingInstance: instance,
      action: 'CheckVersion',
      reason: CRD_OUTDATED_REASON,
      type: 'Warning',
      note: note.slice(0, 1024),
      regarding: {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        name: CRD_NAME,
        ...(uid ? { uid } : {}),
      },
    });
  } catch (e) {
    log.debug({ error: (e as Error).message }, 'could not record the CRDOutdated Event');
  }
}
