// Cluster DNS inside `jotasu server`, reached the Kubernetes way: the DNS server
// listens on the node address (port 53, or a free port when 53 is taken), and a
// selector-less `kube-system/kube-dns` Service with clusterIP = --cluster-dns plus an
// EndpointSlice we keep pointing at that address makes every node's proxy route
// <cluster-dns>:53 to it, as k3s does with CoreDNS behind a ClusterIP.
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { R } from '../api/resources.js';
import { isStatusError } from '../api/errors.js';
import { createInformerFactory } from '../client/informer.js';
import type { ApiClient } from '../client/types.js';
import { logger } from '../util/log.js';
import { startDnsServer } from './server.js';

export interface ClusterDnsOptions {
  client: ApiClient;
  clusterDns: string;
  clusterDomain: string;
  /** Where the server listens and what the kube-dns endpoints point at. */
  nodeAddress: string;
  /** Preferred port; 0 = any. When taken, a free port is used instead. */
  port?: number;
  forward?: boolean;
}

export const DNS_SLICE = 'kube-dns-jotasu';
const MANAGED_BY = 'jotasu-dns';

export async function startClusterDns(o: ClusterDnsOptions): Promise<{ port: number; stop(): Promise<void> }> {
  const log = logger('dns');
  const informers = createInformerFactory(o.client);
  let server;
  try {
    server = await startDnsServer({ informers, host: o.nodeAddress, port: o.port ?? 53, zone: o.clusterDomain, forward: o.forward });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' && (e as NodeJS.ErrnoException).code !== 'EACCES') throw e;
    log.info({ port: o.port ?? 53 }, 'DNS port taken; using a free port behind the kube-dns service');
    server = await startDnsServer({ informers, host: o.nodeAddress, port: 0, zone: o.clusterDomain, forward: o.forward });
  }
  informers.start();
  await informers.waitForSync();
  await publish(o.client, o.clusterDns, o.nodeAddress, server.port, log);
  return { port: server.port, async stop() { await server.stop(); informers.stop(); } };
}

const DNS_SERVICE_LABELS = { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'CoreDNS' };

async function publish(client: ApiClient, clusterIP: string, address: string, port: number, log: ReturnType<typeof logger>): Promise<void> {
  const svc: Service = {
    apiVersion: 'v1', kind: 'Service',
    // kubernetes.io/cluster-service lists the service in `kubectl cluster-info`, as k3s' CoreDNS.
    metadata: { name: 'kube-dns', namespace: 'kube-system', labels: DNS_SERVICE_LABELS },
    spec: {
      clusterIP,
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: port },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: port },
      ],
    },
  };
  const services = client.resource<Service>(R.services);
  try {
    await services.create(svc, { namespace: 'kube-system' });
  } catch (e) {
    if (!isStatusError(e, 'AlreadyExists')) log.warn({ err: (e as Error).message }, 'could not create the kube-dns service');
    // A service published by an older server: give it today's labels.
    else await services.patch('kube-dns', 'merge', { metadata: { labels: DNS_SERVICE_LABELS } }, { namespace: 'kube-system' })
      .catch((err: Error) => log.warn({ err: err.message }, 'could not label the kube-dns service'));
  }
  const slice: EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { name: DNS_SLICE, namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'kube-dns', 'endpointslice.kubernetes.io/managed-by': MANAGED_BY } },
    ports: [{ name: 'dns', port, protocol: 'UDP' }, { name: 'dns-tcp', port, protocol: 'TCP' }],
    endpoints: [{ addresses: [address], conditions: { ready: true, serving: true, terminating: false } }],
  };
  const slices = client.resource<EndpointSlice>(R.endpointslices);
  for (let i = 0; i < 5; i++) {
    try {
      const cur = await slices.get(DNS_SLICE, { namespace: 'kube-system' }).catch((e) => { if (isStatusError(e, 'NotFound')) return undefined; throw e; });
      if (cur) await slices.update({ ...slice, metadata: { ...cur.metadata, labels: slice.metadata!.labels } }, { namespace: 'kube-system' });
      else await slices.create(slice, { namespace: 'kube-system' });
      log.info({ clusterIP, endpoint: `${address}:${port}` }, 'kube-dns service published');
      return;
    } catch (e) {
      if (!isStatusError(e, 'Conflict') && !isStatusError(e, 'AlreadyExists')) { log.warn({ err: (e as Error).message }, 'could not publish kube-dns endpoints'); return; }
    }
  }
}

/** For `jotasu server`. */
export async function startDnsServerComponent(c: { kubeconfig: string; flags: { advertiseAddress?: string; clusterDns: string; clusterDomain: string; dnsPort?: string; dnsForward?: boolean } }): Promise<{ stop(): Promise<void> }> {
  const { createClientFromKubeconfig } = await import('../client/rest.js');
  const { defaultNodeIP } = await import('../kubelet/node-status.js');
  const { VERSION } = await import('../util/version.js');
  const client = createClientFromKubeconfig(c.kubeconfig, { userAgent: `jotasu-dns/${VERSION}`, qps: 50, burst: 100 });
  const dns = await startClusterDns({
    client, clusterDns: c.flags.clusterDns, clusterDomain: c.flags.clusterDomain,
    nodeAddress: c.flags.advertiseAddress ?? defaultNodeIP(), port: Number(c.flags.dnsPort ?? 53), forward: !!c.flags.dnsForward,
  });
  return { stop: async () => { await dns.stop(); client.close(); } };
}
