// Where a pod's streaming request goes: upstream's LogLocation/ExecLocation checks
// (container name valid for the pod, pod on a node) and the pod's node → kubelet address.
import type { Pod, Node } from 'kubernetes-types/core/v1.js';
import { errors } from '../../api/errors.js';

export interface KubeletLocation { host: string; port: number; nodeName: string }

const names = (cs: { name: string }[] | undefined) => (cs ?? []).map((c) => c.name);

/** The container a request is about; BadRequest with upstream's wording when it cannot be chosen. */
export function validateContainer(pod: Pod, container: string | null): string {
  const podName = pod.metadata?.name ?? '';
  if (!container) {
    const cs = names(pod.spec?.containers);
    if (cs.length === 1) return cs[0]!;
    const inits = names(pod.spec?.initContainers);
    let msg = `a container name must be specified for pod ${podName}, choose one of: [${cs.join(' ')}]`;
    if (inits.length) msg += ` or one of the init containers: [${inits.join(' ')}]`;
    throw errors.badRequest(msg);
  }
  const all = [...names(pod.spec?.containers), ...names(pod.spec?.initContainers), ...names(pod.spec?.ephemeralContainers)];
  if (!all.includes(container)) throw errors.badRequest(`container ${container} is not valid for pod ${podName}`);
  return container;
}

/**
 * The kubelet's own check of the container's state (validateContainerLogStatus), done
 * here too so that the message does not depend on what the kubelet still remembers.
 * `exec` asks for a running container; logs accept a terminated one.
 */
export function checkContainerState(pod: Pod, container: string, opts: { previous?: boolean; exec?: boolean }): void {
  const podName = pod.metadata?.name ?? '';
  const all = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.ephemeralContainerStatuses ?? [])];
  const cs = all.find((c) => c.name === container);
  const q = (s: string) => `"${s}"`;
  if (!cs) {
    if (pod.status?.phase === 'Pending' || !pod.status?.phase) throw errors.badRequest(`container ${q(container)} in pod ${q(podName)} is waiting to start: ContainerCreating`);
    throw errors.badRequest(`container ${q(container)} in pod ${q(podName)} is not available`);
  }
  const { running, terminated, waiting } = cs.state ?? {};
  const last = cs.lastState?.terminated;
  if (opts.previous) {
    if (!last) throw errors.badRequest(`previous terminated container ${q(container)} in pod ${q(podName)} not found`);
    return;
  }
  if (running) return;
  if (opts.exec) {
    if (waiting) throw errors.badRequest(`container ${q(container)} in pod ${q(podName)} is waiting to start: ${waiting.reason ?? 'ContainerCreating'}`);
    throw errors.badRequest(`container ${q(container)} in pod ${q(podName)} is not running`);
  }
  if (terminated || last) return;
  if (waiting) {
    const why = waiting.reason === 'ErrImagePull' ? 'image can\'t be pulled'
      : waiting.reason === 'ImagePullBackOff' ? 'trying and failing to pull image' : waiting.reason;
    throw errors.badRequest(`container ${q(container)} in pod ${q(podName)} is waiting to start: ${why}`);
  }
  throw errors.badRequest(`container ${q(container)} in pod ${q(podName)} is waiting to start - no logs yet`);
}

/** The node's kubelet endpoint: InternalIP (else ExternalIP, Hostname) and daemonEndpoints port. */
export function kubeletLocation(node: Node): KubeletLocation {
  const addrs = node.status?.addresses ?? [];
  const pick = (t: string) => addrs.find((a) => a.type === t)?.address;
  const host = pick('InternalIP') ?? pick('ExternalIP') ?? pick('Hostname');
  const nodeName = node.metadata?.name ?? '';
  if (!host) throw errors.unavailable(`no preferred addresses found; known addresses: []`);
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port || 10250;
  return { host, port, nodeName };
}
