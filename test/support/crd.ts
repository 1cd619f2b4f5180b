import { liveStreamCrd } from '../../src/api/crd.ts';
import type { Kube, KubeObject } from '../../src/kube/rest.ts';
import { waitUntil } from './kube.ts';

/** Installs (or updates) the generated CRD with server-side apply and waits until the API server serves it. */
export async function installCrd(kube: Kube): Promise<void> {
  const crd = liveStreamCrd() as unknown as KubeObject;
  await kube.apply(crd, 'vstream-tests');
  await waitUntil('CRD Established', async () => {
    const c = await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
    );
    return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
  });
}
