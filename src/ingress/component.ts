// The ingress controller inside `jotasu server` (`--disable ingress` turns it off).
import { availableParallelism } from 'node:os';
import type { ApiClient } from '../client/types.js';
import { logger } from '../util/log.js';
import { startIngressController } from './controller.js';

export interface IngressServerContext {
  kubeconfig: string;
  flags: { advertiseAddress?: string; ingressHttpPort?: string; ingressHttpsPort?: string; ingressWorkers?: string };
}

export async function startIngressServerComponent(c: IngressServerContext): Promise<{ stop(): Promise<void> }> {
  const { createClientFromKubeconfig } = await import('../client/rest.js');
  const { defaultNodeIP } = await import('../kubelet/node-status.js');
  const { VERSION } = await import('../util/version.js');
  const client: ApiClient = createClientFromKubeconfig(c.kubeconfig, { userAgent: `jotasu-ingress/${VERSION}`, qps: 50, burst: 100 });
  const httpPort = Number(c.flags.ingressHttpPort ?? 80);
  const httpsPort = c.flags.ingressHttpsPort === 'off' ? undefined : Number(c.flags.ingressHttpsPort ?? 443);
  // One worker process per CPU by default: a worker costs ~1.5x the CPU per request of an nginx worker.
  const workers = c.flags.ingressWorkers === undefined ? availableParallelism() : Number(c.flags.ingressWorkers);
  if (!Number.isInteger(workers) || workers < 0) throw new Error(`--ingress-workers: not a count: ${c.flags.ingressWorkers}`);
  try {
    const ing = await startIngressController({ client, httpPort, httpsPort, workers, nodeAddress: c.flags.advertiseAddress ?? defaultNodeIP() });
    return { stop: async () => { await ing.stop(); client.close(); } };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES') { client.close(); throw e; }
    // Another server on this host has the ports: run without an ingress rather than fail.
    logger('ingress').warn({ httpPort, httpsPort, err: code }, 'ingress ports unavailable; ingress controller not running (see --ingress-http-port)');
    client.close();
    return { stop: async () => {} };
  }
}
