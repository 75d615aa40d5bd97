// Shared pieces of the controller integration tests: a real API server
// (test/lib/cluster.ts), the scheduler, simulated nodes and the controller manager,
// with real kubectl driving them.
import { execFile } from 'node:child_process';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { R } from '../../src/api/resources.js';
import { isStatusError } from '../../src/api/errors.js';
import { createClientFromKubeconfig, type JotasuApiClient } from '../../src/client/rest.js';
import { startScheduler, type RunningScheduler } from '../../src/scheduler/index.js';
import { startSimNodes, type SimNodes } from '../../src/sim/nodes.js';
import { startControllerManager, type ControllerManager, type ControllerOptions } from '../../src/controllers/index.js';
import { isPodReady } from '../../src/api/pods.js';
import { startCluster, type Cluster } from '../lib/cluster.js';

export interface Env {
  cluster: Cluster;
  client: JotasuApiClient;
  scheduler: RunningScheduler;
  nodes: SimNodes;
  cm: ControllerManager | undefined;
  cmOptions: Partial<ControllerOptions>;
  kubectl(...args: string[]): Promise<string>;
  startCM(): void;
  stopCM(): Promise<void>;
  stop(): Promise<void>;
}

export const fastOptions: Partial<ControllerOptions> = {
  nodeMonitorGracePeriodMs: 4_000,
  nodeMonitorPeriodMs: 500,
  podEvictionTimeoutSeconds: 3,
};

export async function startEnv(nodeCount = 3, cmOptions: Partial<ControllerOptions> = fastOptions): Promise<Env> {
  // The server's own controller manager and scheduler stay off: the tests run (and restart) theirs.
  const cluster = await startCluster({ args: ['--disable', 'controller-manager', '--disable', 'scheduler'] });
  const parts: Partial<Env> = { cluster };
  try {
    const client = createClientFromKubeconfig(cluster.kubeconfig, { qps: 0 });
    parts.client = client;
    parts.scheduler = startScheduler({ client, leaderElect: false, identity: 'test-scheduler' });
    parts.nodes = await startSimNodes({ client, count: nodeCount, renewIntervalMs: 1000, cpu: '4', memory: '8Gi' });
  } catch (e) {
    await parts.scheduler?.stop().catch(() => undefined);
    await parts.nodes?.stop().catch(() => undefined);
    parts.client?.close();
    await cluster.stop();
    throw e;
  }
  const env: Env = {
    cluster, client: parts.client!, scheduler: parts.scheduler!, nodes: parts.nodes!, cm: undefined, cmOptions,
    kubectl: (...args) => kubectl(cluster.kubeconfig, args),
    startCM() { env.cm = startControllerManager({ client: env.client, leaderElect: false, identity: `test-cm-${Date.now()}`, options: cmOptions }); },
    async stopCM() { const cm = env.cm; env.cm = undefined; await cm?.stop(); },
    async stop() {
      await env.stopCM().catch(() => undefined);
      await env.nodes.stop().catch(() => undefined);
      await env.scheduler.stop().catch(() => undefined);
      env.client.close();
      await cluster.stop();
    },
  };
  env.startCM();
  return env;
}

export function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeout: 60_000, env: { ...process.env, KUBECONFIG: kubeconfig } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kubectl ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input ?? '');
  });
}

/**
 * `kubectl create deployment NAME --image=IMAGE --replicas=N -n NS`. If the server
 * refuses kubectl's body (protobuf, newer status fields: API server gaps), the same object goes in as JSON
 * through `kubectl create -f -` so that the controller tests still run; the gap is logged.
 */
export async function createDeployment(env: Env, ns: string, name: string, image: string, replicas: number): Promise<void> {
  try {
    await env.kubectl('create', 'deployment', name, `--image=${image}`, `--replicas=${replicas}`, '-n', ns);
  } catch (e) {
    if (!/failed to create deployment/.test(String(e))) throw e;
    console.warn(`NOTE: the API server refused kubectl create deployment (${String(e).trim()}); creating the same Deployment from JSON`);
    const container = image.split('/').pop()!.split(':')[0]!.split('@')[0]!;
    const manifest = {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name, namespace: ns, labels: { app: name } },
      spec: {
        replicas, selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: container, image }] } },
      },
    };
    await kubectl(env.cluster.kubeconfig, ['create', '-f', '-'], JSON.stringify(manifest));
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000, every = 100): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) { last = e; }
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export async function pods(env: Env, ns: string, selector: string): Promise<Pod[]> {
  return (await env.client.resource<Pod>(R.pods).list({ namespace: ns, labelSelector: selector })).items;
}

export const live = (ps: Pod[]): Pod[] => ps.filter((p) => !p.metadata?.deletionTimestamp);
export const runningReady = (ps: Pod[]): Pod[] => live(ps).filter((p) => p.status?.phase === 'Running' && isPodReady(p));

export async function ensureNamespace(env: Env, name: string): Promise<void> {
  try { await env.client.resource(R.namespaces).create({ metadata: { name } }); } catch (e) { if (!isStatusError(e, 'AlreadyExists')) throw e; }
}
