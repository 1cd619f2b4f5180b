// Clients and small waits for tests that talk to the real API server the global setup started.
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { inject } from 'vitest';
import { Kube } from '../../src/kube/rest.ts';

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(inject('kubeconfig'));
  return kc;
}

export function clients(kc = kubeConfig()) {
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    ext: kc.makeApiClient(k8s.ApiextensionsV1Api),
    kube: Kube.loadSync(inject('kubeconfig')),
  };
}

export { waitUntil } from './wait.ts';

export async function freshNamespace(core: k8s.CoreV1Api, prefix = 't'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

export const errorBody = (e: unknown): string => {
  const err = e as { body?: unknown; message?: string };
  if (err.body !== undefined) return typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
  return String(err.message ?? e);
};
