// The node tier's storage: a default StorageClass `standard` and a minimal external provisioner for it, in the
// harness. For every claim the PV controller hands to us (annotation volume.kubernetes.io/storage-provisioner), it
// creates a world-writable directory and a hostPath PersistentVolume bound to the claim through claimRef, as
// rancher's local-path-provisioner does on kind, but without its helper pods (whose busybox image nothing here could
// pull or build in seconds). One node, so hostPath needs no node affinity.
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { Informer } from '../src/controller/informer.ts';
import { Kube, type KubeObject } from '../src/kube/rest.ts';

export const PROVISIONER = 'vstream.dev/local-path';
export const STORAGE_CLASS = 'standard';

interface Claim extends KubeObject {
  spec: {
    volumeName?: string;
    storageClassName?: string;
    accessModes: string[];
    resources: { requests: { storage: string } };
  };
}

export class LocalVolumes {
  private readonly kubeconfig: string;
  private readonly root: string;
  private kube?: Kube;
  private claims?: Informer<Claim>;
  private readonly done = new Set<string>();
  private queue = Promise.resolve();
  private readonly log = pino({ level: 'warn' });

  constructor(kubeconfig: string, root: string) {
    this.kubeconfig = kubeconfig;
    this.root = root;
  }

  async start(): Promise<void> {
    this.kube = await Kube.load(this.kubeconfig);
    await this.kube.request('PATCH', `/apis/storage.k8s.io/v1/storageclasses/${STORAGE_CLASS}`, {
      body: {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
        provisioner: PROVISIONER,
        reclaimPolicy: 'Retain',
        volumeBindingMode: 'Immediate',
      },
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: 'vstream-harness', force: true },
    });
    this.claims = new Informer<Claim>(
      this.kube,
      { name: 'local-volumes', path: '/api/v1/persistentvolumeclaims' },
      this.log,
    );
    this.claims.on(() => {
      this.queue = this.queue.then(() => this.provision()).catch(() => {});
    });
    this.claims.start();
    await this.claims.waitForSync();
  }

  /** The directory backing a claim (it outlives the claim: PVs are Retain). */
  dir(namespace: string, claim: string): string {
    return join(this.root, namespace, claim);
  }

  private async provision(): Promise<void> {
    for (const pvc of this.claims?.list() ?? []) {
      const ns = pvc.metadata.namespace!;
      const uid = pvc.metadata.uid!;
      if (pvc.spec.volumeName || pvc.metadata.deletionTimestamp || this.done.has(uid)) continue;
      if (pvc.metadata.annotations?.['volume.kubernetes.io/storage-provisioner'] !== PROVISIONER) continue;
      const path = this.dir(ns, pvc.metadata.name);
      mkdirSync(path, { recursive: true });
      chmodSync(path, 0o777); // pods run as any non-root UID; hostPath volumes get no fsGroup ownership
      try {
        await this.kube!.create({
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: { name: `pvc-${uid}`, annotations: { 'pv.kubernetes.io/provisioned-by': PROVISIONER } },
          spec: {
            capacity: { storage: pvc.spec.resources.requests.storage },
            accessModes: pvc.spec.accessModes,
            persistentVolumeReclaimPolicy: 'Retain',
            storageClassName: pvc.spec.storageClassName ?? STORAGE_CLASS,
            hostPath: { path, type: 'DirectoryOrCreate' },
            claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: ns, name: pvc.metadata.name, uid },
          },
        } as unknown as KubeObject);
        this.done.add(uid);
      } catch (e) {
        if ((e as { status?: number }).status === 409) this.done.add(uid);
        else this.log.warn({ claim: `${ns}/${pvc.metadata.name}`, error: (e as Error).message }, 'cannot provision');
      }
    }
  }

  stop(): void {
    this.claims?.stop();
  }
}
