// `jotasu proxy`: the node's service proxy as its own process (kube-proxy's flags
// where they exist). --cleanup removes every rule, chain and table a proxy of this
// prefix made, in either mode, and exits.
import { Command } from 'commander';
import { untilSignal } from './flags.js';

interface Opts { kubeconfig?: string; cleanup: boolean; hostnameOverride?: string; clusterCidr: string; minSyncPeriod: string; proxyMode?: string; iptablesBackend?: string; iptablesChainPrefix: string; iptablesLocalhostNodeports: boolean }

export function command(): Command {
  return new Command('proxy')
    .description('program the kernel for Services on this node (kube-proxy, nftables or iptables mode)')
    .option('--kubeconfig <file>', 'kubeconfig to reach the API server (default: $KUBECONFIG or ~/.kube/config)')
    .option('--cleanup', 'remove the jump rules and every chain of this prefix (PREFIX-*) and the nftables table PREFIX-proxy, then exit', false)
    .option('--proxy-mode <mode>', 'iptables or nftables (default: nftables where `nft` works, else iptables)')
    .option('--iptables-chain-prefix <name>', 'prefix of our iptables chains and of our nftables table "<name>-proxy": one per cluster sharing a host', 'JOTASU')
    .option('--hostname-override <name>', 'node name (default: the host name)')
    .option('--cluster-cidr <cidr>', 'pod network; traffic from outside it to cluster IPs is masqueraded', '10.42.0.0/16')
    .option('--min-sync-period <ms>', 'minimum interval between rule syncs (ms)', '100')
    .option('--iptables-backend <nft|legacy>', 'iptables mode\'s backend (default: what `iptables` on this host uses)')
    .option('--iptables-localhost-nodeports', 'iptables mode: NodePorts on 127.0.0.1 too (sets net.ipv4.conf.all.route_localnet=1)', false)
    .action(async (o: Opts) => {
      const { logger } = await import('../util/log.js');
      const { parseProxyMode, cleanupAllModes } = await import('../proxy/mode.js');
      const { makeExec } = await import('../proxy/exec.js');
      const log = logger('proxy');
      const backend = o.iptablesBackend === 'legacy' || o.iptablesBackend === 'nft' ? o.iptablesBackend : undefined;
      if (o.cleanup) {
        const { removed, errors } = await cleanupAllModes(makeExec(), o.iptablesChainPrefix);
        for (const r of removed) process.stdout.write(`removed ${Object.entries(r.counts).map(([k, n]) => `${n} ${k}`).join(', ')} (${r.what})\n`);
        for (const e of errors) log.warn({ err: e }, 'cleanup incomplete');
        if (errors.length) process.exitCode = 1;
        return;
      }
      const mode = parseProxyMode(o.proxyMode);
      const { hostname } = await import('node:os');
      const { createClientFromKubeconfig } = await import('../client/rest.js');
      const { startProxy } = await import('../proxy/proxier.js');
      const { VERSION } = await import('../util/version.js');
      const client = createClientFromKubeconfig(o.kubeconfig, { userAgent: `jotasu-proxy/${VERSION}`, qps: 50, burst: 100 });
      const proxy = await startProxy({
        client, nodeName: (o.hostnameOverride ?? hostname()).toLowerCase(), clusterCIDR: o.clusterCidr,
        minSyncIntervalMs: Number(o.minSyncPeriod), mode, backend, chainPrefix: o.iptablesChainPrefix, localhostNodePorts: o.iptablesLocalhostNodeports,
      });
      await untilSignal();
      await proxy.stop();
      client.close();
    });
}
