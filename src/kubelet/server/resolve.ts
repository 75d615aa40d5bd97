// Finds the runtime container behind /<namespace>/<pod>/<container>, with upstream's
// messages for the ways it can fail. With the kubelet's pod (its status names the
// container ids, as upstream's validateContainerLogStatus uses them) the status decides;
// without it the runtime's sandbox and container metadata do.
import type { Pod, Container } from 'kubernetes-types/core/v1.js';
import type { RuntimeService, ContainerStatus } from '../../runtime/cri.js';

export class HttpError extends Error {
  constructor(readonly code: number, message: string) { super(message); this.name = 'HttpError'; }
}

/** What the kubelet knows about its pods (its pod manager); optional. */
export interface PodSource {
  getPod(namespace: string, name: string): Pod | undefined;
  listPods(): Pod[];
}

export interface ResolvedContainer {
  id: string;
  status: ContainerStatus;
  sandboxId: string;
  /** The pod's network namespace (port-forward); undefined with hostNetwork. */
  netns?: string;
  /** The container's spec, when the kubelet's pod is known (attach: stdinOnce). */
  spec?: Container;
}

const stripScheme = (id: string) => id.replace(/^[a-z0-9]+:\/\//, '');

export async function findSandbox(rt: RuntimeService, ns: string, pod: string, uid?: string): Promise<{ id: string; netns?: string; ip?: string }> {
  const all = (await rt.listPodSandbox()).filter((s) => s.metadata.namespace === ns && s.metadata.name === pod && (!uid || s.metadata.uid === uid));
  // The live sandbox first, then the newest.
  all.sort((a, b) => (a.state === b.state ? Number(b.createdAt - a.createdAt) : a.state === 'SANDBOX_READY' ? -1 : 1));
  const s = all[0];
  if (!s) throw new HttpError(404, `pod "${pod}" does not exist`);
  const st = await rt.podSandboxStatus(s.id);
  return { id: s.id, netns: st.linux?.namespaces?.paths?.network, ip: st.network?.ip };
}

/** upstream kubelet's validateContainerLogStatus: which container id serves the request. */
function idFromPodStatus(pod: Pod, container: string, previous: boolean): string {
  const podName = pod.metadata?.name ?? '';
  const all = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.ephemeralContainerStatuses ?? [])];
  const cs = all.find((c) => c.name === container);
  if (!cs) throw new HttpError(400, `container "${container}" in pod "${podName}" is not available`);
  const last = cs.lastState?.terminated;
  const { running, terminated, waiting } = cs.state ?? {};
  if (previous) {
    if (!last?.containerID) throw new HttpError(400, `previous terminated container "${container}" in pod "${podName}" not found`);
    return last.containerID;
  }
  if (running) return cs.containerID ?? '';
  if (terminated) {
    if (terminated.containerID) return terminated.containerID;
    if (last?.containerID) return last.containerID;
    throw new HttpError(400, `container "${container}" in pod "${podName}" is terminated`);
  }
  if (last) {
    if (!last.containerID) throw new HttpError(400, `container "${container}" in pod "${podName}" is terminated`);
    return last.containerID;
  }
  if (waiting) {
    const why = waiting.reason === 'ErrImagePull' ? 'image can\'t be pulled'
      : waiting.reason === 'ImagePullBackOff' ? 'trying and failing to pull image' : waiting.reason;
    throw new HttpError(400, `container "${container}" in pod "${podName}" is waiting to start: ${why}`);
  }
  throw new HttpError(400, `container "${container}" in pod "${podName}" is waiting to start - no logs yet`);
}

export async function resolveContainer(
  rt: RuntimeService, pods: PodSource | undefined,
  ns: string, podName: string, container: string, opts: { previous?: boolean; uid?: string } = {},
): Promise<ResolvedContainer> {
  const pod = pods?.getPod(ns, podName);
  if (pods && !pod) throw new HttpError(404, `pod "${podName}" does not exist`);
  if (pod) {
    const specs = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? []), ...(pod.spec?.ephemeralContainers ?? [])];
    const spec = specs.find((c) => c.name === container);
    if (!spec) throw new HttpError(404, `container "${container}" not found in pod "${podName}"`);
    const id = stripScheme(idFromPodStatus(pod, container, !!opts.previous));
    const status = await rt.containerStatus(id).catch(() => { throw new HttpError(404, `container not found ("${container}")`); });
    const sb = await findSandbox(rt, ns, podName, pod.metadata?.uid).catch(() => undefined);
    return { id, status, sandboxId: sb?.id ?? '', netns: sb?.netns, spec };
  }
  // No pod manager: the runtime's metadata. Attempts of one container name, newest first.
  const sb = await findSandbox(rt, ns, podName, opts.uid);
  const sandboxes = (await rt.listPodSandbox()).filter((s) => s.metadata.namespace === ns && s.metadata.name === podName);
  const runs: ContainerStatus[] = [];
  for (const s of sandboxes) {
    for (const c of await rt.listContainers({ podSandboxId: s.id })) {
      if (c.metadata.name === container) runs.push(await rt.containerStatus(c.id));
    }
  }
  runs.sort((a, b) => (b.metadata.attempt ?? 0) - (a.metadata.attempt ?? 0) || Number(b.createdAt - a.createdAt));
  if (!runs.length) throw new HttpError(404, `container "${container}" not found in pod "${podName}"`);
  if (opts.previous) {
    const prev = runs.find((r, i) => i > 0 && r.state === 'CONTAINER_EXITED');
    if (!prev) throw new HttpError(400, `previous terminated container "${container}" in pod "${podName}" not found`);
    return { id: prev.id, status: prev, sandboxId: sb.id, netns: sb.netns };
  }
  return { id: runs[0]!.id, status: runs[0]!, sandboxId: sb.id, netns: sb.netns };
}

/** Exec and attach need the container running; the message is upstream's. */
export function requireRunning(rc: ResolvedContainer, container: string, podName: string): void {
  if (rc.status.state === 'CONTAINER_RUNNING') return;
  if (rc.status.state === 'CONTAINER_CREATED') throw new HttpError(400, `container "${container}" in pod "${podName}" is waiting to start: ContainerCreating`);
  throw new HttpError(400, `container not running (${rc.id})`);
}
