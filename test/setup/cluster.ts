// vitest global setup for the integration and e2e projects: one full-tier control plane per run (or the cluster
// $KUBECONFIG names when VSTREAM_USE_EXISTING_CLUSTER=true), torn down even when tests fail.
import type { TestProject } from 'vitest/node';
import { startCluster } from '../../dev/cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    clusterTier: string;
    clusterLogs: string;
    clusterServer: string;
    clusterToken: string;
  }
}

export default async function setup(project: TestProject) {
  const cluster = await startCluster({ tier: 'full' });
  console.log(
    `[cluster] ${cluster.tier} tier ready in ${cluster.startMs}ms; logs: ${cluster.logsDir || '(existing cluster)'}`,
  );
  project.provide('kubeconfig', cluster.kubeconfig);
  project.provide('clusterTier', cluster.tier);
  project.provide('clusterLogs', cluster.logsDir);
  project.provide('clusterServer', cluster.server);
  project.provide('clusterToken', cluster.token);
  return async () => {
    await cluster.stop();
  };
}
