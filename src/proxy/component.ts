// The proxy as an in-process component (`jotasu server`, `jotasu agent`): one per
// node, removing its rules when the node stops.
import type { ApiClient } from '../client/types.js';
import { startProxy, type RunningProxy } from './proxier.js';

export interface ProxyComponentOptions {
  client: ApiClient;
  nodeName: string;
  clusterCIDR?: string;
  chainPrefix?: string;
}

export async function startProxyComponent(o: ProxyComponentOptions): Promise<RunningProxy> {
  return startProxy({ client: o.client, nodeName: o.nodeName, clusterCIDR: o.clusterCIDR, chainPrefix: o.chainPrefix });
}

/** For `jotasu server`: an admin client from the server's kubeconfig. */
export async function startProxyServerComponent(c: { kubeconfig: string; flags: { nodeName?: string; clusterCidr: string; iptablesChainPrefix?: string } }): Promise<{ stop(): Promise<void> }> {
  const { hostname } = await import('node:os');
  const { createClientFromKubeconfig } = await import('../client/rest.js');
  const { VERSION } = await import('../util/version.js');
  const client = createClientFromKubeconfig(c.kubeconfig, { userAgent: `jotasu-proxy/${VERSION}`, qps: 50, burst: 100 });
  const p = await startProxyComponent({ client, nodeName: (c.flags.nodeName ?? hostname()).toLowerCase(), clusterCIDR: c.flags.clusterCidr, chainPrefix: c.flags.iptablesChainPrefix });
  return { stop: async () => { await p.stop(); client.close(); } };
}

/** For `jotasu agent`: the node's own credentials (saved by the join). */
export async function startAgentProxy(dataDir: string, nodeName: string, chainPrefix?: string): Promise<{ stop(): Promise<void> }> {
  const { join, resolve } = await import('node:path');
  const { createClientFromKubeconfig } = await import('../client/rest.js');
  const { VERSION } = await import('../util/version.js');
  const client = createClientFromKubeconfig(join(resolve(dataDir), 'agent', 'kubelet.kubeconfig'), { userAgent: `jotasu-proxy/${VERSION}`, qps: 50, burst: 100 });
  const p = await startProxyComponent({ client, nodeName, chainPrefix });
  return { stop: async () => { await p.stop(); client.close(); } };
}
