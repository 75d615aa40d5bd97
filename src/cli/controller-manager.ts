// `jotasu controller-manager`: the controllers as their own process, talking to the
// API server through a kubeconfig (kube-controller-manager flags where they exist).
import { Command } from 'commander';
import { leaderIdentity, parseDuration, untilSignal } from './flags.js';

interface Opts {
  kubeconfig?: string; leaderElect: boolean; nodeMonitorGracePeriod: string; nodeMonitorPeriod: string;
  podEvictionTimeout: string; clusterCidr: string; nodeCidrMaskSize: string; controllers: string;
  concurrentSyncs: string; kubeApiQps: string; kubeApiBurst: string; rootCaFile?: string;
}

export function command(): Command {
  return new Command('controller-manager')
    .description('run the controllers: replicasets, deployments, endpoints, nodes, namespaces, garbage collection... (kube-controller-manager semantics)')
    .option('--kubeconfig <file>', 'kubeconfig to reach the API server (default: $KUBECONFIG or ~/.kube/config)')
    .option('--leader-elect', 'elect a leader through the kube-system/kube-controller-manager Lease', false)
    .option('--node-monitor-grace-period <duration>', 'how long a node may stop renewing its Lease before it is marked Unknown', '40s')
    .option('--node-monitor-period <duration>', 'how often node health is checked', '5s')
    .option('--pod-eviction-timeout <duration>', 'used instead of the default 300 s not-ready/unreachable tolerations', '5m0s')
    .option('--cluster-cidr <cidr>', 'CIDR the node IPAM hands out pod subnets from', '10.42.0.0/16')
    .option('--node-cidr-mask-size <n>', 'size of each node\'s pod subnet', '24')
    .option('--controllers <list>', 'controllers to run: * for all, name to enable, -name to disable', '*')
    .option('--concurrent-syncs <n>', 'workers per controller', '5')
    .option('--kube-api-qps <n>', 'client requests per second', '200')
    .option('--kube-api-burst <n>', 'client burst', '400')
    .option('--root-ca-file <file>', 'CA bundle published to every namespace as the kube-root-ca.crt ConfigMap (default: the kubeconfig\'s certificate-authority)')
    .action(async (o: Opts) => {
      const { createClientFromKubeconfig } = await import('../client/rest.js');
      const { loadKubeconfig } = await import('../client/kubeconfig.js');
      const { readFileSync } = await import('node:fs');
      const { startControllerManager } = await import('../controllers/index.js');
      const { logger } = await import('../util/log.js');
      const { VERSION } = await import('../util/version.js');
      const client = createClientFromKubeconfig(o.kubeconfig, {
        userAgent: `jotasu-controller-manager/${VERSION}`, qps: Number(o.kubeApiQps), burst: Number(o.kubeApiBurst),
      });
      const identity = leaderIdentity();
      const running = startControllerManager({
        client, leaderElect: o.leaderElect, identity,
        options: {
          nodeMonitorGracePeriodMs: parseDuration(o.nodeMonitorGracePeriod),
          nodeMonitorPeriodMs: parseDuration(o.nodeMonitorPeriod),
          podEvictionTimeoutSeconds: Math.round(parseDuration(o.podEvictionTimeout) / 1000),
          clusterCidr: o.clusterCidr,
          nodeCidrMaskSize: Number(o.nodeCidrMaskSize),
          controllers: o.controllers.split(',').map((s) => s.trim()).filter(Boolean),
          workers: Number(o.concurrentSyncs),
          // As kube-controller-manager: the file, else the CA its own kubeconfig trusts.
          rootCA: o.rootCaFile ? readFileSync(o.rootCaFile, 'utf8') : loadKubeconfig(o.kubeconfig).caData?.toString('utf8'),
        },
      });
      logger('controller-manager').info({ identity, leaderElect: o.leaderElect }, 'controller manager started');
      await untilSignal();
      await running.stop();
      client.close();
    });
}
