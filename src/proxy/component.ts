// The proxy as an in-process component (`jotasu server`, `jotasu agent`): one per
// node, removing its rules when the node stops.
import type { ApiClient } from '../client/types.js';
import { startProxy, type RunningProxy } from './proxier.js';
import { parseProxyMode, type ProxyMode } from './mode.js';

export interface ProxyComponentOptions {
  client: ApiClient;
  nodeName: string;
  clusterCIDR?: string;
  chainPrefix?: string;
  mode?: ProxyMode;
}

export async function startProxyComponent(o: ProxyComponentOptions): Promise<RunningProxy> {
  return startProxy({ client: o.client, nodeName: o.nodeName, clusterCIDR: o.clusterCIDR, chainPrefix: o.chainPrefix, mode: o.mode });
}

/** For `jotasu server`: an admin client from the server's kubeconfig. */
export async function startProxyServerComponent(c: { kubeconfig: string; flags: { nodeName?: string; clusterCidr: string; iptablesChainPrefix?: string; proxyMode?: string } }): Promise<{ stop(): Promise<void> }> {
  const { hostname } = await import('node:os');
  const { createClientFromKubeconfig } = await import('../client/rest.js');
  const { VERSION } = await import('../util/version.js');
  const mode = parseProxyMode(c.flags.proxyMode);
  const client = createClientFromKubeconfig(c.kubeconfig, { userAgent: `jotasu-proxy/${VERSION}`, qps: 50, burst: 100 });
  const p = await startProxyComponent({ client, nodeName: (c.flags.nodeName ?? hostname()).toLowerCase(), clusterCIDR: c.flags.clusterCidr, chainPrefix: c.flags.iptablesChainPrefix, mode });
  return { stop: async () => { await p.stop(); client.close(); } };
}

/** For `jotasu agent`: the node's own credentials (saved by the join). */
export async function startAgentProxy(dataDir: string, nodeName: string, chainPrefix?: string, proxyMode?: string): Promise<{ stop(): Promise<void> }> {
  const { join, resolve } = await import('node:path');
  const { createClientFromKubeconfig } = await import('../client/rest.js');
  const { VERSION } = await import('../util/version.js');
  const mode = parseProxyMode(proxyMode);
  const client = createClientFromKubeconfig(join(resolve(dataDir), 'agent', 'kubelet.kubeconfig'), { userAgent: `jotasu-proxy/${VERSION}`, qps: 50, burst: 100 });
  const p = await startProxyComponent({ client, nodeName, chainPrefix, mode });
  return { stop: async () => { await p.stop(); client.close(); } };
}
