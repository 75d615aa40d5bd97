// `jotasu proxy`: the node's service proxy as its own process (kube-proxy's flags
// where they exist). --cleanup removes every rule and chain a proxy made, and exits.
import { Command } from 'commander';
import { untilSignal } from './flags.js';

interface Opts { kubeconfig?: string; cleanup: boolean; hostnameOverride?: string; clusterCidr: string; minSyncPeriod: string; iptablesBackend?: string; iptablesChainPrefix: string }

export function command(): Command {
  return new Command('proxy')
    .description('program the kernel for Services on this node (kube-proxy, iptables mode)')
    .option('--kubeconfig <file>', 'kubeconfig to reach the API server (default: $KUBECONFIG or ~/.kube/config)')
    .option('--cleanup', 'remove the jump rules and every chain of this prefix (PREFIX-*), then exit', false)
    .option('--iptables-chain-prefix <name>', 'prefix of our iptables chains: one per cluster sharing a host\'s tables', 'JOTASU')
    .option('--hostname-override <name>', 'node name (default: the host name)')
    .option('--cluster-cidr <cidr>', 'pod network; traffic from outside it to cluster IPs is masqueraded', '10.42.0.0/16')
    .option('--min-sync-period <ms>', 'minimum interval between rule syncs (ms)', '100')
    .option('--iptables-backend <nft|legacy>', 'iptables backend (default: what `iptables` on this host uses)')
    .action(async (o: Opts) => {
      const { logger } = await import('../util/log.js');
      const log = logger('proxy');
      const backend = o.iptablesBackend === 'legacy' || o.iptablesBackend === 'nft' ? o.iptablesBackend : undefined;
      if (o.cleanup) {
        const { Iptables, makeExec } = await import('../proxy/iptables.js');
        // Both backends: a previous run may have used the other one.
        for (const b of ['nft', 'legacy'] as const) {
          try {
            const r = await new Iptables(makeExec(), b, o.iptablesChainPrefix).cleanup();
            if (r.jumps || r.chains) process.stdout.write(`removed ${r.jumps} jump rules and ${r.chains} chains (${b})\n`);
          } catch (e) { log.debug({ backend: b, err: (e as Error).message }, 'cleanup skipped'); }
        }
        return;
      }
      const { hostname } = await import('node:os');
      const { createClientFromKubeconfig } = await import('../client/rest.js');
      const { startProxy } = await import('../proxy/proxier.js');
      const { VERSION } = await import('../util/version.js');
      const client = createClientFromKubeconfig(o.kubeconfig, { userAgent: `jotasu-proxy/${VERSION}`, qps: 50, burst: 100 });
      const proxy = await startProxy({
        client, nodeName: (o.hostnameOverride ?? hostname()).toLowerCase(), clusterCIDR: o.clusterCidr,
        minSyncIntervalMs: Number(o.minSyncPeriod), backend, chainPrefix: o.iptablesChainPrefix,
      });
      await untilSignal();
      await proxy.stop();
      client.close();
    });
}
