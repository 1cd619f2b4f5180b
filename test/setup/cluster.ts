// vitest global setup for the integration, e2e and node projects: one control plane per project and run (the full
// tier; the node tier for the `node` project, with the chart installed on it as a user would), or the cluster
// $KUBECONFIG names when VSTREAM_USE_EXISTING_CLUSTER=true, torn down even when tests fail.
import type { TestProject } from 'vitest/node';
import { installChart } from '../../dev/chart.ts';
import { startCluster } from '../../dev/cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    clusterTier: string;
    clusterLogs: string;
    clusterServer: string;
    clusterToken: string;
    /** The real node's control URL (node tier only; dev/node.ts remoteForward/remoteExec), else ''. */
    nodeControl: string;
    /** Seconds `helm install --wait` of the chart took on the node tier (0 elsewhere). */
    chartInstallSeconds: number;
  }
}

/** Where the node project installs the chart (the same release and namespace as the chart test's). */
export const CHART_NAMESPACE = 'vstream-system';

export default async function setup(project: TestProject) {
  const tier = project.config.name === 'node' ? 'node' : 'full';
  const cluster = await startCluster({ tier });
  console.log(
    `[cluster] ${cluster.tier} tier ready in ${cluster.startMs}ms; logs: ${cluster.logsDir || '(existing cluster)'}`,
  );
  let chartInstallSeconds = 0;
  if (cluster.tier === 'node') {
    const started = Date.now();
    try {
      // The chart's defaults, unchanged: its image (ghcr.io/vstream/vstream:<appVersion>, IfNotPresent) was built
      // and imported by the tier.
      installChart(cluster.kubeconfig, CHART_NAMESPACE);
    } catch (e) {
      await cluster.stop();
      throw new Error(`helm install on the node tier failed: ${(e as { stderr?: string }).stderr ?? e}`);
    }
    chartInstallSeconds = (Date.now() - started) / 1000;
    console.log(`[cluster] chart installed in ${chartInstallSeconds.toFixed(1)}s`);
  }
  project.provide('kubeconfig', cluster.kubeconfig);
  project.provide('clusterTier', cluster.tier);
  project.provide('clusterLogs', cluster.logsDir);
  project.provide('clusterServer', cluster.server);
  project.provide('clusterToken', cluster.token);
  project.provide('nodeControl', cluster.node?.control ?? '');
  project.provide('chartInstallSeconds', chartInstallSeconds);
  return async () => {
    await cluster.stop();
  };
}
