// Reaching inside the node tier's node from a test worker: forwards from the host's 127.0.0.1 to addresses in the
// node's network namespace (ClusterIPs, NodePorts on its loopback, pod IPs), and commands run there.
import { inject } from 'vitest';
import { remoteExec, remoteForward } from '../../dev/node.ts';

const control = () => {
  const c = inject('nodeControl');
  if (!c) throw new Error('not on the node tier');
  return c;
};

export const onNode = () => inject('clusterTier') === 'node';

/** A port on 127.0.0.1 relayed to host:port inside the node. */
export const nodeForward = (host: string, port: number) => remoteForward(control(), host, port);

export async function nodeExec(argv: string[]): Promise<string> {
  const r = await remoteExec(control(), argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} in the node: exit ${r.code}: ${r.out}`);
  return r.out;
}
