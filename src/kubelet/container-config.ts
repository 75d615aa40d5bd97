// From a pod's container spec to a CRI ContainerConfig (upstream
// kuberuntime_container.go generateContainerConfig + kuberuntime_container_linux.go):
// labels that let a restarted kubelet find its containers again, resources as cgroup
// settings, the security context, mounts and the log path. The runtime merges
// command/args with the image's entrypoint/cmd (as containerd does), so command and
// args are passed through as the pod spec gives them (after $(VAR) expansion).
import type { Container, Pod, PodSecurityContext, SecurityContext } from 'kubernetes-types/core/v1.js';
import type {
  ContainerConfig, KeyValue, LinuxContainerResources, LinuxContainerSecurityContext, Mount, NamespaceOption, PodSandboxConfig,
} from '../runtime/cri.js';
import { quantityMilliValue, quantityValue } from '../api/quantity.js';
import { podQOSClass } from '../api/defaults/index.js';

// Label keys as upstream's kubelet sets them (pkg/kubelet/types/labels.go).
export const LABEL_POD_NAME = 'io.kubernetes.pod.name';
export const LABEL_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const LABEL_POD_UID = 'io.kubernetes.pod.uid';
export const LABEL_CONTAINER_NAME = 'io.kubernetes.container.name';
export const LABEL_MANAGED = 'io.kubernetes.jotasu.managed';
export const ANN_RESTART_COUNT = 'io.kubernetes.container.restartCount';
export const ANN_CONTAINER_HASH = 'io.kubernetes.container.hash';
export const ANN_TERMINATION_MESSAGE_PATH = 'io.kubernetes.container.terminationMessagePath';
export const ANN_GRACE = 'io.kubernetes.pod.terminationGracePeriod';
export const ANN_INIT = 'io.kubernetes.container.init';

const MIN_SHARES = 2;
const MAX_SHARES = 262144;
const SHARES_PER_CPU = 1024;
const QUOTA_PERIOD = 100_000;
const MIN_QUOTA = 1000;

/** Upstream MilliCPUToShares. */
export function milliCPUToShares(milli: number): number {
  if (milli === 0) return MIN_SHARES;
  const shares = Math.floor((milli * SHARES_PER_CPU) / 1000);
  return Math.min(MAX_SHARES, Math.max(MIN_SHARES, shares));
}

/** Upstream MilliCPUToQuota (0 = no limit). */
export function milliCPUToQuota(milli: number, period = QUOTA_PERIOD): number {
  if (milli === 0) return 0;
  return Math.max(MIN_QUOTA, Math.floor((milli * period) / 1000));
}

function q(v: string | number | undefined, milli = false): number {
  if (v === undefined) return 0;
  return milli ? quantityMilliValue(v) : quantityValue(v);
}

/** OOM score adjustment by QoS class (upstream pkg/kubelet/qos/policy.go). */
export function oomScoreAdj(pod: Pod, container: Container, memoryCapacity: number): number {
  const qos = podQOSClass(pod);
  if (qos === 'Guaranteed') return -997;
  if (qos === 'BestEffort') return 1000;
  const req = q(container.resources?.requests?.memory);
  if (!memoryCapacity) return 999;
  const adj = 1000 - Math.floor((1000 * req) / memoryCapacity);
  return Math.min(999, Math.max(2, adj));
}

export function containerResources(pod: Pod, c: Container, memoryCapacity: number): LinuxContainerResources {
  const cpuReq = q(c.resources?.requests?.cpu ?? c.resources?.limits?.cpu, true);
  const cpuLim = q(c.resources?.limits?.cpu, true);
  const memLim = q(c.resources?.limits?.memory);
  const r: LinuxContainerResources = {
    cpuShares: milliCPUToShares(cpuReq),
    oomScoreAdj: oomScoreAdj(pod, c, memoryCapacity),
  };
  if (cpuLim) { r.cpuPeriod = QUOTA_PERIOD; r.cpuQuota = milliCPUToQuota(cpuLim); }
  if (memLim) r.memoryLimitInBytes = memLim;
  return r;
}

export function namespaceOptions(pod: Pod): NamespaceOption {
  const s = pod.spec ?? { containers: [] };
  return {
    network: s.hostNetwork ? 'NODE' : 'POD',
    pid: s.hostPID ? 'NODE' : s.shareProcessNamespace ? 'POD' : 'CONTAINER',
    ipc: s.hostIPC ? 'NODE' : 'POD',
  };
}

/** Container security context merged over the pod's (upstream determineEffectiveSecurityContext). */
export function securityContext(pod: Pod, c: Container): LinuxContainerSecurityContext {
  const ps: PodSecurityContext = pod.spec?.securityContext ?? {};
  const cs: SecurityContext = c.securityContext ?? {};
  const out: LinuxContainerSecurityContext = { namespaceOptions: namespaceOptions(pod) };
  const runAsUser = cs.runAsUser ?? ps.runAsUser;
  const runAsGroup = cs.runAsGroup ?? ps.runAsGroup;
  if (runAsUser !== undefined) out.runAsUser = runAsUser;
  if (runAsGroup !== undefined) out.runAsGroup = runAsGroup;
  const groups = [...(ps.supplementalGroups ?? []), ...(ps.fsGroup !== undefined ? [ps.fsGroup] : [])];
  if (groups.length) out.supplementalGroups = groups;
  if (cs.privileged) out.privileged = true;
  if (cs.readOnlyRootFilesystem) out.readonlyRootfs = true;
  if (cs.capabilities) {
    out.capabilities = {
      addCapabilities: cs.capabilities.add?.map(capName),
      dropCapabilities: cs.capabilities.drop?.map(capName),
    };
  }
  if (cs.allowPrivilegeEscalation === false) out.noNewPrivs = true;
  if (cs.procMount === 'Unmasked') { out.maskedPaths = []; out.readonlyPaths = []; }
  return out;
}

/** "NET_ADMIN" → "CAP_NET_ADMIN"; "ALL" stays. */
function capName(c: string): string {
  const u = c.toUpperCase();
  return u === 'ALL' || u.startsWith('CAP_') ? u : `CAP_${u}`;
}

/**
 * Hashes by container spec object: a worker keeps the informer's pod (never modified in
 * place; an update brings new objects) and hashed each running container on every sync,
 * a sorted deep copy each time (a 50-pod burst: ~60 ms of the agent's profile).
 */
const hashes = new WeakMap<Container, string>();

/** A stable hash of the container spec (upstream HashContainer): a changed spec means restart. */
export function containerHash(c: Container): string {
  const known = hashes.get(c);
  if (known !== undefined) return known;
  const s = JSON.stringify(sortKeys({ ...c, resources: undefined }));
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  const hash = h.toString(16);
  hashes.set(c, hash);
  return hash;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  }
  return v;
}

export function podLabels(pod: Pod): Record<string, string> {
  return {
    [LABEL_POD_NAME]: pod.metadata?.name ?? '',
    [LABEL_POD_NAMESPACE]: pod.metadata?.namespace ?? '',
    [LABEL_POD_UID]: pod.metadata?.uid ?? '',
    [LABEL_MANAGED]: 'true',
  };
}

export interface ContainerConfigInput {
  pod: Pod;
  container: Container;
  init: boolean;
  attempt: number;
  env: KeyValue[];
  command?: string[];
  args?: string[];
  mounts: Mount[];
  /** The image reference to run (the resolved image id). */
  image: string;
  memoryCapacity: number;
}

export function buildContainerConfig(i: ContainerConfigInput): ContainerConfig {
  const c = i.container;
  return {
    metadata: { name: c.name, attempt: i.attempt },
    image: { image: i.image },
    ...(i.command?.length ? { command: i.command } : {}),
    ...(i.args?.length ? { args: i.args } : {}),
    ...(c.workingDir ? { workingDir: c.workingDir } : {}),
    envs: i.env,
    mounts: i.mounts,
    labels: { ...podLabels(i.pod), [LABEL_CONTAINER_NAME]: c.name },
    annotations: {
      [ANN_RESTART_COUNT]: String(i.attempt),
      [ANN_CONTAINER_HASH]: containerHash(c),
      [ANN_TERMINATION_MESSAGE_PATH]: c.terminationMessagePath ?? '/dev/termination-log',
      [ANN_GRACE]: String(i.pod.spec?.terminationGracePeriodSeconds ?? 30),
      ...(i.init ? { [ANN_INIT]: 'true' } : {}),
    },
    // Upstream layout: <pod log dir>/<container>/<restart count>.log
    logPath: `${c.name}/${i.attempt}.log`,
    // tty as asked: a runtime without terminals must refuse it, not run it without one.
    stdin: !!c.stdin, stdinOnce: !!c.stdinOnce, tty: !!c.tty,
    linux: {
      resources: containerResources(i.pod, c, i.memoryCapacity),
      securityContext: securityContext(i.pod, c),
    },
    terminationMessagePath: c.terminationMessagePath ?? '/dev/termination-log',
  };
}

export interface SandboxConfigInput {
  pod: Pod;
  attempt: number;
  logDirectory: string;
  clusterDNS: string[];
  clusterDomain: string;
}

/** Pod DNS as upstream's dns.go: ClusterFirst (default), Default, None, ClusterFirstWithHostNet. */
export function dnsConfig(pod: Pod, clusterDNS: string[], clusterDomain: string): PodSandboxConfig['dnsConfig'] {
  const spec = pod.spec!;
  let policy = spec.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'ClusterFirst' && spec.hostNetwork) policy = 'Default';
  if (policy === 'ClusterFirstWithHostNet') policy = 'ClusterFirst';
  const custom = spec.dnsConfig;
  let servers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  if (policy === 'Default') {
    if (!custom) return undefined; // the runtime copies the host's resolv.conf
  } else if (policy === 'ClusterFirst' && clusterDNS.length) {
    const ns = pod.metadata?.namespace ?? 'default';
    servers = [...clusterDNS];
    searches = [`${ns}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain];
    options = ['ndots:5'];
  }
  if (custom) {
    servers = [...new Set([...servers, ...(custom.nameservers ?? [])])];
    searches = [...new Set([...searches, ...(custom.searches ?? [])])];
    const opts = new Map(options.map((o) => [o.split(':')[0]!, o]));
    for (const o of custom.options ?? []) opts.set(o.name ?? '', o.value !== undefined ? `${o.name}:${o.value}` : `${o.name}`);
    options = [...opts.values()];
  }
  return { servers: servers.slice(0, 3), searches: searches.slice(0, 32), options };
}

/** Hostname as upstream GeneratePodHostNameAndDomain: spec.hostname or the pod name, cut to 63. */
export function podHostname(pod: Pod): string {
  const h = pod.spec?.hostname || pod.metadata?.name || 'pod';
  return h.slice(0, 63).replace(/[-.]+$/, '');
}

export function buildSandboxConfig(i: SandboxConfigInput): PodSandboxConfig {
  const pod = i.pod;
  const ports = [];
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      ports.push({ protocol: (p.protocol ?? 'TCP') as 'TCP' | 'UDP' | 'SCTP', containerPort: p.containerPort, hostPort: p.hostPort, ...(p.hostIP ? { hostIp: p.hostIP } : {}) });
    }
  }
  const ps = pod.spec?.securityContext ?? {};
  const sysctls = Object.fromEntries((ps.sysctls ?? []).map((s) => [s.name, s.value]));
  return {
    metadata: { name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '', uid: pod.metadata?.uid ?? '', attempt: i.attempt },
    hostname: podHostname(pod),
    logDirectory: i.logDirectory,
    dnsConfig: dnsConfig(pod, i.clusterDNS, i.clusterDomain),
    portMappings: ports,
    labels: podLabels(pod),
    annotations: { ...(pod.metadata?.annotations ?? {}) },
    linux: {
      cgroupParent: `pod${pod.metadata?.uid ?? ''}`,
      securityContext: {
        namespaceOptions: namespaceOptions(pod),
        ...(ps.runAsUser !== undefined ? { runAsUser: ps.runAsUser } : {}),
        ...(ps.runAsGroup !== undefined ? { runAsGroup: ps.runAsGroup } : {}),
        ...(ps.supplementalGroups?.length ? { supplementalGroups: ps.supplementalGroups } : {}),
      },
      ...(Object.keys(sysctls).length ? { sysctls } : {}),
    },
  };
}
