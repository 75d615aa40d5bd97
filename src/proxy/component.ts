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

/** For `jotasu server`: the proxy's own identity, system:kube-proxy (bound to system:node-proxier), as on agents. */
export async function startProxyServerComponent(c: {
  url: string; caPem: string; issueClientCert(cn: string, orgs: string[]): Promise<{ certPem: string; keyPem: string }>;
  flags: { nodeName?: string; clusterCidr: string; iptablesChainPrefix?: string; proxyMode?: string };
}): Promise<{ stop(): Promise<void> }> {
  const { hostname } = await import('node:os');
  const { createClient } = await import('../client/rest.js');
  const { VERSION } = await import('../util/version.js');
  const { KUBE_PROXY_USER } = await import('../apiserver/join.js');
  const mode = parseProxyMode(c.flags.proxyMode);
  const kp = await c.issueClientCert(KUBE_PROXY_USER, []);
  const client = createClient({ server: c.url, caData: Buffer.from(c.caPem), certData: Buffer.from(kp.certPem), keyData: Buffer.from(kp.keyPem), userAgent: `jotasu-proxy/${VERSION}`, qps: 50, burst: 100 });
  const p = await startProxyComponent({ client, nodeName: (c.flags.nodeName ?? hostname()).toLowerCase(), clusterCIDR: c.flags.clusterCidr, chainPrefix: c.flags.iptablesChainPrefix, mode });
  return { stop: async () => { await p.stop(); client.close(); } };
}

/** For `jotasu agent`: the proxy's credentials from the join (system:kube-proxy). */
export async function startAgentProxy(kubeconfig: string, nodeName: string, chainPrefix?: string, proxyMode?: string): Promise<{ stop(): Promise<void> }> {
  const { createClientFromKubeconfig } = await import('../client/rest.js');
  const { VERSION } = await import('../util/version.js');
  const mode = parseProxyMode(proxyMode);
  const client = createClientFromKubeconfig(kubeconfig, { userAgent: `jotasu-proxy/${VERSION}`, qps: 50, burst: 100 });
  const p = await startProxyComponent({ client, nodeName, chainPrefix, mode });
  return { stop: async () => { await p.stop(); client.close(); } };
}
