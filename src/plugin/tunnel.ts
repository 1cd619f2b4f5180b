// The way to a stream's MediaMTX control API from a laptop: a port-forward to the stream's Deployment through the
// API server (pods/portforward, which the built-in edit role grants), exposed on 127.0.0.1 for one command.
// The API server's service proxy is not used: it strips the Authorization header, and a token in the URL would
// land in the API server's audit log.

import type { AddressInfo } from 'node:net';
import { createServer, type Socket } from 'node:net';
import { MEDIAMTX_API_PORT } from '../render/ports.ts';
import type { ApiTunnel, Target } from './commands.ts';

export async function portForwardApi(t: Target, opts: { kubeconfig?: string; context?: string }): Promise<ApiTunnel> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  if (opts.context) kc.setCurrentContext(opts.context);
  const pf = new k8s.PortForward(kc);
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    pf.portForwardDeployment(t.namespace, t.name, [MEDIAMTX_API_PORT], socket, null, socket).catch((e: Error) =>
      socket.destroy(e),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
