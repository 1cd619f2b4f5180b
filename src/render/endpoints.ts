// Where clients reach a stream from: the host and port every URL in status uses, and the address WebRTC advertises
// as its ICE candidate. Pure: the spec, the Service as the API server reports it (node ports, load balancer status)
// and the controller's --node-address in; no I/O.
//
// The host, in order: spec.service.externalHost (a DNS name the user owns); else the load balancer's IP or hostname
// (LoadBalancer); else the controller's --node-address (NodePort); else the cluster-internal Service name
// (ClusterIP, and only then). A LoadBalancer without an address, or a NodePort stream without a node address, is
// Pending: status then carries no host-bearing URL rather than one pointing at the cluster name.
import { isIPv6 } from 'node:net';
import { Reason } from '../api/conditions.ts';
import type { ResolvedSpec } from '../api/livestream.ts';
import { names } from './names.ts';
import { type PortSpec, publicPorts } from './ports.ts';

/** The parts of a Service the endpoints depend on. */
export interface ObservedService {
  spec?: { ports?: { name?: string; port?: number; protocol?: string; nodePort?: number }[] };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

export interface Reach {
  scope: 'External' | 'ClusterInternal' | 'Pending';
  /** EndpointsReady's reason: where the host comes from (True) or what is missing (False). */
  reason: string;
  message: string;
  /** The host as URLs carry it (IPv6 in brackets); absent while Pending. */
  urlHost?: string;
  /** The bare host WebRTC advertises as an ICE candidate; only for hosts reachable from outside the cluster. */
  iceHost?: string;
  /** The port a client dials, by port name (node ports for a NodePort Service). */
  ports: Record<string, number>;
}

const bracket = (host: string) => (isIPv6(host) ? `[${host}]` : host);

/** The node ports the API server allocated, by port name; undefined when one is still missing. */
function nodePorts(ports: PortSpec[], service?: ObservedService): Record<string, number> | undefined {
  const observed = service?.spec?.ports ?? [];
  const out: Record<string, number> = {};
  for (const p of ports) {
    const n = observed.find((o) => o.name === p.name && (o.protocol ?? 'TCP') === p.protocol)?.nodePort;
    if (!n) return undefined;
    out[p.name] = n;
  }
  return out;
}

/** The node ports of the WebRTC ICE listeners (MediaMTX must listen on the port it advertises). */
export function iceNodePorts(spec: ResolvedSpec, service?: ObservedService): { udp?: number; tcp?: number } {
  if (spec.service.type !== 'NodePort') return {};
  const find = (name: string, protocol: string) =>
    service?.spec?.ports?.find((o) => o.name === name && (o.protocol ?? 'TCP') === protocol)?.nodePort;
  const udp = find('webrtc-ice', 'UDP');
  const tcp = find('webrtc-ice-tcp', 'TCP');
  return { ...(udp ? { udp } : {}), ...(tcp ? { tcp } : {}) };
}

export function reach(
  stream: { name: string; namespace: string },
  spec: ResolvedSpec,
  service: ObservedService | undefined,
  nodeAddress?: string,
): Reach {
  const svc = spec.service;
  const ports = publicPorts(spec, iceNodePorts(spec, service));
  const servicePorts = Object.fromEntries(ports.map((p) => [p.name, p.port]));
  const ext = svc.externalHost;
  const svcName = `Service ${stream.namespace}/${names(stream.name).service}`;

  if (svc.type === 'NodePort') {
    const np = nodePorts(ports, service);
    if (!np)
      return {
        scope: 'Pending',
        reason: Reason.NodePortPending,
        message: `Waiting for the API server to allocate node ports to ${svcName}.`,
        ports: servicePorts,
      };
    const list = ports.map((p) => `${p.name} ${np[p.name]}/${p.protocol}`).join(', ');
    const host = ext ?? nodeAddress;
    if (!host)
      return {
        scope: 'Pending',
        reason: Reason.NodeAddressUnknown,
        message: `${svcName} is a NodePort Service (${list}) but no node address is known: set spec.service.externalHost, or run the controller with --node-address (chart value controller.nodeAddress). Status carries no host-bearing URL until then.`,
        ports: np,
      };
    return {
      scope: 'External',
      reason: ext ? Reason.ExternalHost : Reason.NodePort,
      message: ext
        ? `URLs use spec.service.externalHost ${ext} with the node ports of ${svcName} (${list}).`
        : `URLs use the node address ${nodeAddress} (controller --node-address) with the node ports of ${svcName} (${list}).`,
      urlHost: bracket(host),
      iceHost: nodeAddress ?? host,
      ports: np,
    };
  }

  if (svc.type === 'LoadBalancer') {
    const ingress = service?.status?.loadBalancer?.ingress?.find((i) => i.ip || i.hostname);
    const lb = ingress?.ip ?? ingress?.hostname;
    if (ext)
      return {
        scope: 'External',
        reason: Reason.ExternalHost,
        message: `URLs use spec.service.externalHost ${ext}${lb ? ` (the load balancer of ${svcName} is ${lb})` : `; the load balancer of ${svcName} has no address yet`}.`,
        urlHost: bracket(ext),
        iceHost: lb ?? ext,
        ports: servicePorts,
      };
    if (!lb)
      return {
        scope: 'Pending',
        reason: Reason.LoadBalancerPending,
        message: `Waiting for the load balancer of ${svcName} to get an address (status.loadBalancer.ingress). Status carries no host-bearing URL until then; set spec.service.externalHost to publish a DNS name you own instead.`,
        ports: servicePorts,
      };
    return {
      scope: 'External',
      reason: Reason.LoadBalancer,
      message: `URLs use the load balancer address ${lb} of ${svcName}.`,
      urlHost: bracket(lb),
      iceHost: lb,
      ports: servicePorts,
    };
  }

  if (ext)
    return {
      scope: 'External',
      reason: Reason.ExternalHost,
      message: `URLs use spec.service.externalHost ${ext}. ${svcName} is ClusterIP: whatever routes ${ext} to it (an ingress, a gateway, a proxy) is yours to run.`,
      urlHost: bracket(ext),
      iceHost: ext,
      ports: servicePorts,
    };
  const dns = `${names(stream.name).service}.${stream.namespace}.svc`;
  return {
    scope: 'ClusterInternal',
    reason: Reason.ClusterInternal,
    message: `${svcName} is ClusterIP: the URLs (${dns}) work only inside the cluster. Set spec.service.type to LoadBalancer or NodePort, or spec.service.externalHost, for streamers and viewers outside it.`,
    urlHost: dns,
    ports: servicePorts,
  };
}
