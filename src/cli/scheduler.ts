// `jotasu scheduler`: the scheduler as its own process, talking to the API server
// through a kubeconfig.
import { Command } from 'commander';
import { leaderIdentity, untilSignal } from './flags.js';

export function command(): Command {
  return new Command('scheduler')
    .description('run the scheduler: assigns pending pods to nodes (kube-scheduler semantics)')
    .option('--kubeconfig <file>', 'kubeconfig to reach the API server (default: $KUBECONFIG or ~/.kube/config)')
    .option('--leader-elect', 'elect a leader through the kube-system/kube-scheduler Lease', false)
    .option('--percentage-of-nodes-to-score <n>', 'nodes to score, in percent of the cluster (0: adaptive, as upstream)', '0')
    .option('--kube-api-qps <n>', 'client requests per second', '500')
    .option('--kube-api-burst <n>', 'client burst', '1000')
    .action(async (o: { kubeconfig?: string; leaderElect: boolean; percentageOfNodesToScore: string; kubeApiQps: string; kubeApiBurst: string }) => {
      const { createClientFromKubeconfig } = await import('../client/rest.js');
      const { startScheduler } = await import('../scheduler/index.js');
      const { logger } = await import('../util/log.js');
      const { VERSION } = await import('../util/version.js');
      const client = createClientFromKubeconfig(o.kubeconfig, {
        userAgent: `jotasu-scheduler/${VERSION}`, qps: Number(o.kubeApiQps), burst: Number(o.kubeApiBurst),
      });
      const identity = leaderIdentity();
      const running = startScheduler({
        client, leaderElect: o.leaderElect, identity,
        percentageOfNodesToScore: Number(o.percentageOfNodesToScore),
      });
      logger('scheduler').info({ identity, leaderElect: o.leaderElect }, 'scheduler started');
      await untilSignal();
      // A dead API server must not keep us from exiting.
      setTimeout(() => process.exit(0), 10_000).unref();
      await running.stop();
      client.close();
    });
}
