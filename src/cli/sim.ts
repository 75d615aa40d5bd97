// `jotasu sim nodes`: SIMULATED nodes for scale tests (like kwok). They register,
// keep their Leases, and report bound pods Running without running anything.
import { Command } from 'commander';
import { untilSignal } from './flags.js';

export function command(): Command {
  const sim = new Command('sim').description('scale-test tools: simulated cluster members that run nothing');
  sim.command('nodes')
    .description('register N simulated nodes that heartbeat and mark their pods Running (no containers)')
    .requiredOption('--count <n>', 'number of nodes')
    .option('--name-prefix <prefix>', 'node name prefix', 'sim-node-')
    .option('--start-index <n>', 'index of the first node', '0')
    .option('--kubeconfig <file>', 'kubeconfig to reach the API server (default: $KUBECONFIG or ~/.kube/config)')
    .option('--cpu <q>', 'cpu capacity per node', '32')
    .option('--memory <q>', 'memory capacity per node', '256Gi')
    .option('--pods <n>', 'pod capacity per node', '110')
    .option('--stop-heartbeat <nodes...>', 'nodes (names) that register but never renew their Lease: dead kubelets')
    .option('--delete-on-exit', 'delete the nodes and their Leases on SIGINT/SIGTERM', false)
    .action(async (o: {
      count: string; namePrefix: string; startIndex: string; kubeconfig?: string;
      cpu: string; memory: string; pods: string; stopHeartbeat?: string[]; deleteOnExit: boolean;
    }) => {
      const { createClientFromKubeconfig } = await import('../client/rest.js');
      const { startSimNodes } = await import('../sim/nodes.js');
      const { logger } = await import('../util/log.js');
      const { VERSION } = await import('../util/version.js');
      const client = createClientFromKubeconfig(o.kubeconfig, { userAgent: `jotasu-sim/${VERSION}`, qps: 1000, burst: 2000 });
      const sim = await startSimNodes({
        client, count: Number(o.count), namePrefix: o.namePrefix, startIndex: Number(o.startIndex),
        cpu: o.cpu, memory: o.memory, pods: o.pods,
      });
      for (const n of o.stopHeartbeat ?? []) sim.stopHeartbeat(n);
      const log = logger('sim-nodes');
      log.info({ count: sim.nodeNames.length, stopped: o.stopHeartbeat ?? [] }, 'simulated nodes running (tests stop single nodes through startSimNodes().stopHeartbeat)');
      await untilSignal();
      await sim.stop({ deleteNodes: o.deleteOnExit });
      client.close();
    });
  return sim;
}
