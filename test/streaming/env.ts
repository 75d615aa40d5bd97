// The streaming tests' cluster: the kubelet engineer's environment (test/kubelet/env.ts:
// real `jotasu server`, loopback registry, a `jotasu agent` whose kubelet runs the pods
// under runc and serves logs/exec/port-forward on its HTTPS port), plus a busybox image
// with the applets kubectl cp and the tests use. Pods are started by that kubelet; kubectl
// reaches them through the API server's proxy only.
//
// Pod network: a 10.200-249.0.0/16 not routed on this host yet, so that these suites
// never share addresses with the kubelet suites (10.100-199) running at the same time.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Pod, Container } from 'kubernetes-types/core/v1.js';
import { startKubeletEnv, type KubeletEnv, type KubeletEnvOptions } from '../kubelet/env.js';
import { busyboxImage, layer, layerTar } from '../lib/images.js';

export const isRoot = process.getuid?.() === 0;
const have = (cmd: string, ...args: string[]) => spawnSync(cmd, args).status === 0;
export const skip = !isRoot || !have('runc', '--version') || !have('kubectl', 'version', '--client')
  ? 'needs root, runc and kubectl' : false;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A /16 in 10.200-249 with no route on this host (another suite's bridge would have one). */
function freeClusterCidr(): string {
  const routes = execFileSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' });
  const start = randomBytes(1)[0]! % 50;
  for (let i = 0; i < 50; i++) {
    const octet = 200 + ((start + i) % 50);
    if (!new RegExp(`^10\\.${octet}\\.`, 'm').test(routes)) return `10.${octet}.0.0/16`;
  }
  throw new Error('no free 10.200-249.0.0/16 for the pod network');
}

export interface StreamEnv {
  env: KubeletEnv;
  kubeconfig: string;
  /** busybox with tar, sha256sum, ... (kubectl cp) in the test registry. */
  image: string;
  tag: string;
  kubectl(args: string[], o?: { input?: string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Creates a pod (restartPolicy Always unless given) and waits until every container runs. */
  runPod(name: string, containers: Partial<Container>[], o?: { labels?: Record<string, string>; restartPolicy?: string; volumes?: unknown[]; nodeName?: string; wait?: (p: Pod) => boolean }): Promise<Pod>;
  /** Polls `kubectl logs` until it matches. */
  waitLog(pod: string, container: string, re: RegExp, ms?: number): Promise<string>;
  stop(): Promise<void>;
}

const allRunning = (p: Pod) => p.status?.phase === 'Running' && !!p.status.podIP
  && (p.status.containerStatuses ?? []).length === (p.spec?.containers ?? []).length
  && (p.status.containerStatuses ?? []).every((c) => !!c.state?.running);

export async function startStreamingEnv(o: { agentArgs?: string[]; server?: KubeletEnvOptions['server'] } = {}): Promise<StreamEnv> {
  const env = await startKubeletEnv({ clusterCidr: freeClusterCidr(), agentArgs: o.agentArgs, server: o.server });
  try {
    const extra = layer(await layerTar(['tar', 'sha256sum', 'md5sum', 'stty', 'base64', 'cmp', 'dd'].map((a) => ({ path: `bin/${a}`, linkname: 'busybox' }))));
    await env.registry.push(await busyboxImage({}, [extra]), 'test/busybox:stream');
  } catch (e) {
    await env.stop();
    throw e;
  }
  const image = `${env.registry.host}/test/busybox:stream`;
  const kubectl: StreamEnv['kubectl'] = (args, o = {}) => env.cluster.kubectl(args, o);
  return {
    env, image, kubectl, kubeconfig: env.cluster.kubeconfig, tag: env.nodeName.replace(/^node-/, ''),
    async runPod(name, containers, o = {}) {
      const pod = {
        apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels: o.labels ?? { app: name } },
        spec: {
          ...(o.nodeName ? { nodeName: o.nodeName } : {}),
          terminationGracePeriodSeconds: 0, restartPolicy: o.restartPolicy ?? 'Always',
          ...(o.volumes ? { volumes: o.volumes } : {}),
          containers: containers.map((c) => ({ image, imagePullPolicy: 'IfNotPresent', ...c })),
        },
      };
      const r = await kubectl(['create', '-f', '-'], { input: JSON.stringify(pod) });
      if (r.code !== 0) throw new Error(`create pod ${name}: ${r.stderr}`);
      return env.waitPod(name, o.wait ?? allRunning, 60_000);
    },
    async waitLog(pod, container, re, ms = 15_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const r = await kubectl(['logs', pod, '-c', container]);
        if (r.code === 0 && re.test(r.stdout)) return r.stdout;
        if (Date.now() > deadline) throw new Error(`log of ${pod}/${container} never matched ${re}: ${r.stdout.slice(-500)} ${r.stderr}`);
        await sleep(100);
      }
    },
    stop: () => env.stop(),
  };
}
