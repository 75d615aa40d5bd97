// Server-side printing: meta.k8s.io/v1 Table responses with the columns and cell
// texts of upstream's printers (pkg/printers/internalversion/printers.go), so that
// `kubectl get` looks the same as against kube-apiserver.
import type { ObjectMeta, ListMeta } from 'kubernetes-types/meta/v1.js';
import type { Pod, Service, ConfigMap, Secret, Endpoints, Node, Namespace, Event, ServiceAccount, Container } from 'kubernetes-types/core/v1.js';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { CronJob, Job } from 'kubernetes-types/batch/v1.js';
import type { Ingress, IngressClass } from 'kubernetes-types/networking/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { Event as EventV1 } from 'kubernetes-types/events/v1.js';
import type { ClusterRoleBinding, RoleBinding } from 'kubernetes-types/rbac/v1.js';
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import { resolveRef } from '../openapi/schema.js';

// kubernetes-types has no Table types (they are server-side printing only), so these
// mirror meta.k8s.io/v1 Table, TableColumnDefinition and TableRow.
export interface TableColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}
export interface TableRowCondition { type: string; status: string; reason?: string; message?: string }
export interface TableRow {
  cells: unknown[];
  conditions?: TableRowCondition[];
  object?: unknown;
}
export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: ListMeta;
  columnDefinitions: TableColumnDefinition[];
  rows: TableRow[];
}
export type IncludeObject = 'None' | 'Metadata' | 'Object';

type Obj = { apiVersion?: string; kind?: string; metadata?: ObjectMeta };

const metaDoc = (f: string): string => resolveRef('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta')?.properties?.[f]?.description ?? '';
const col = (name: string, type: string, description: string, priority = 0, format = ''): TableColumnDefinition => ({ name, type, format, description, priority });
const NAME = (): TableColumnDefinition => col('Name', 'string', metaDoc('name'), 0, 'name');
const AGE = (): TableColumnDefinition => col('Age', 'string', metaDoc('creationTimestamp'));
const NONE = '<none>';

/** upstream's duration.HumanDuration: 5s, 3m2s, 15m, 4h, 5h30m, 2d3h, 30d, 2y5d. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365;
    return dy === 0 ? `${Math.trunc(hours / 24 / 365)}y` : `${Math.trunc(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

/** translateTimestampSince: "<unknown>" for a missing time. */
export function age(ts: string | undefined | null, now: Date): string {
  if (!ts) return '<unknown>';
  const t = Date.parse(ts);
  if (Number.isNaN(t)) return '<unknown>';
  return humanDuration(now.getTime() - t);
}

/** labels.FormatLabels: "a=b,c=d" with sorted keys, "<none>" when empty. */
export function formatLabels(m: Record<string, string> | undefined): string {
  const keys = Object.keys(m ?? {}).sort();
  return keys.length ? keys.map((k) => `${k}=${m![k]}`).join(',') : NONE;
}

/**
 * metav1.LabelSelectorAsSelector(s).String(): requirements sorted by key, set values
 * sorted; "" for a nil or empty selector.
 */
export function labelSelectorString(s: LabelSelector | undefined | null): string {
  if (!s) return '';
  const reqs: [string, string][] = [];
  for (const [k, v] of Object.entries(s.matchLabels ?? {})) reqs.push([k, `${k}=${v}`]);
  for (const e of s.matchExpressions ?? []) {
    const values = `(${[...(e.values ?? [])].sort().join(',')})`;
    if (e.operator === 'In') reqs.push([e.key, `${e.key} in ${values}`]);
    else if (e.operator === 'NotIn') reqs.push([e.key, `${e.key} notin ${values}`]);
    else if (e.operator === 'Exists') reqs.push([e.key, e.key]);
    else if (e.operator === 'DoesNotExist') reqs.push([e.key, `!${e.key}`]);
  }
  return reqs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((r) => r[1]).join(',');
}

/** metav1.FormatLabelSelector: the selector string, "<none>" when empty. */
export function formatLabelSelector(s: LabelSelector | undefined | null): string {
  return labelSelectorString(s) || NONE;
}

/** upstream's "a,b,c + N more..." lists (endpoint slices, ingress hosts). */
function listWithMore(list: string[], max: number, count: number): string {
  const shown = list.slice(0, max).join(',');
  return count > max ? `${shown} + ${count - max} more...` : shown;
}

/** Load-balancer ingress points as a sorted set (sets.String.List()): IP, else hostname. */
function loadBalancerPoints(ingress: { ip?: string; hostname?: string }[] | undefined): string[] {
  return [...new Set((ingress ?? []).map((i) => i.ip || i.hostname || '').filter(Boolean))].sort();
}

interface Printer {
  columns: () => TableColumnDefinition[];
  row: (o: any, now: Date) => { cells: unknown[]; conditions?: TableRowCondition[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

// ---------------------------------------------------------------------------
// pods

const restartableInit = (c: Container | undefined): boolean => c?.restartPolicy === 'Always';

export function podRow(pod: Pod, now: Date): { cells: unknown[]; conditions?: TableRowCondition[] } {
  const spec = pod.spec ?? { containers: [] };
  const status = pod.status ?? {};
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastSidecarRestart = 0;
  let totalContainers = (spec.containers ?? []).length;
  let readyContainers = 0;
  let lastRestart = 0;
  const phase = status.phase ?? '';
  let reason: string = status.reason || phase;
  const initContainers = new Map((spec.initContainers ?? []).map((c) => [c.name, c]));
  for (const c of spec.initContainers ?? []) if (restartableInit(c)) totalContainers++;
  for (const c of status.conditions ?? []) {
    if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  }
  const finished = (at: string | undefined): number => { const t = at ? Date.parse(at) : NaN; return Number.isNaN(t) ? 0 : t; };
  const noteRestart = (finishedAt: string | undefined) => { lastRestart = Math.max(lastRestart, finished(finishedAt)); };
  let initializing = false;
  const inits = status.initContainerStatuses ?? [];
  for (let i = 0; i < inits.length; i++) {
    const c = inits[i]!;
    restarts += c.restartCount ?? 0;
    noteRestart(c.lastState?.terminated?.finishedAt);
    if (restartableInit(initContainers.get(c.name))) {
      sidecarRestarts += c.restartCount ?? 0;
      lastSidecarRestart = Math.max(lastSidecarRestart, finished(c.lastState?.terminated?.finishedAt));
    }
    const term = c.state?.terminated;
    const waiting = c.state?.waiting;
    if (term && term.exitCode === 0) continue;
    if (restartableInit(initContainers.get(c.name)) && c.started) {
      if (c.ready) readyContainers++;
      continue;
    }
    if (term) {
      reason = term.reason ? `Init:${term.reason}` : term.signal ? `Init:Signal:${term.signal}` : `Init:ExitCode:${term.exitCode}`;
    } else if (waiting?.reason && waiting.reason !== 'PodInitializing') {
      reason = `Init:${waiting.reason}`;
    } else {
      reason = `Init:${i}/${(spec.initContainers ?? []).length}`;
    }
    initializing = true;
    break;
  }
  const initializedTrue = (status.conditions ?? []).some((c) => c.type === 'Initialized' && c.status === 'True');
  if (!initializing || initializedTrue) {
    // Sidecars (restartable init containers) keep their restarts; the others' are history.
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const cs = status.containerStatuses ?? [];
    for (let i = cs.length - 1; i >= 0; i--) {
      const c = cs[i]!;
      restarts += c.restartCount ?? 0;
      noteRestart(c.lastState?.terminated?.finishedAt);
      const st = c.state ?? {};
      if (st.waiting?.reason) reason = st.waiting.reason;
      else if (st.terminated?.reason) reason = st.terminated.reason;
      else if (st.terminated) reason = st.terminated.signal ? `Signal:${st.terminated.signal}` : `ExitCode:${st.terminated.exitCode}`;
      else if (c.ready && st.running) { hasRunning = true; readyContainers++; }
    }
    if (reason === 'Completed' && hasRunning) {
      reason = (status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') ? 'Running' : 'NotReady';
    }
  }
  if (pod.metadata?.deletionTimestamp && status.reason === 'NodeLost') reason = 'Unknown';
  else if (pod.metadata?.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';

  const restartsText = restarts !== 0 && lastRestart > 0 ? `${restarts} (${humanDuration(now.getTime() - lastRestart)} ago)` : String(restarts);
  const ip = status.podIPs?.[0]?.ip || NONE;
  const gates = spec.readinessGates ?? [];
  let gatesText = NONE;
  if (gates.length) {
    const trueOnes = gates.filter((g) => (status.conditions ?? []).some((c) => c.type === g.conditionType && c.status === 'True')).length;
    gatesText = `${trueOnes}/${gates.length}`;
  }
  const conditions = phase === 'Succeeded' || phase === 'Failed'
    ? [{ type: 'Completed', status: 'True', reason: phase, message: phase === 'Succeeded' ? 'The pod has completed successfully.' : 'The pod failed.' }]
    : undefined;
  return {
    cells: [pod.metadata?.name ?? '', `${readyContainers}/${totalContainers}`, reason, restartsText, age(pod.metadata?.creationTimestamp, now),
      ip, spec.nodeName || NONE, status.nominatedNodeName || NONE, gatesText],
    ...(conditions ? { conditions } : {}),
  };
}

const podPrinter: Printer = {
  columns: () => [
    NAME(),
    col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'string', 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    AGE(),
    col('IP', 'string', 'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', 1),
    col('Node', 'string', 'NodeName is a request to schedule this pod onto a specific node. If it is non-empty, the scheduler simply schedules this pod onto that node, assuming that it fits resource requirements.', 1),
    col('Nominated Node', 'string', 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.', 1),
    col('Readiness Gates', 'string', 'If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to "True" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates', 1),
  ],
  row: podRow,
};

// ---------------------------------------------------------------------------
// services and networking

function serviceExternalIP(s: Service): string {
  const spec = s.spec ?? {};
  const ext = spec.externalIPs ?? [];
  switch (spec.type) {
    case 'ClusterIP':
    case 'NodePort':
    case undefined:
      return ext.length ? ext.join(',') : NONE;
    case 'LoadBalancer': {
      const all = [...loadBalancerPoints(s.status?.loadBalancer?.ingress), ...ext];
      return all.length ? all.join(',') : '<pending>';
    }
    case 'ExternalName':
      return spec.externalName ?? '';
    default:
      return '<unknown>';
  }
}

function servicePorts(s: Service): string {
  const ports = s.spec?.ports ?? [];
  if (!ports.length) return NONE;
  return ports.map((p) => (p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol ?? 'TCP'}` : `${p.port}/${p.protocol ?? 'TCP'}`)).join(',');
}

const servicePrinter: Printer = {
  columns: () => [
    NAME(),
    col('Type', 'string', 'type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer.'),
    col('Cluster-IP', 'string', 'clusterIP is the IP address of the service and is usually assigned randomly.'),
    col('External-IP', 'string', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
    col('Port(s)', 'string', 'The list of ports that are exposed by this service.'),
    AGE(),
    col('Selector', 'string', 'Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify.', 1),
  ],
  row: (s: Service, now) => ({
    cells: [s.metadata?.name ?? '', s.spec?.type ?? '', s.spec?.clusterIPs?.[0] || NONE, serviceExternalIP(s), servicePorts(s), age(s.metadata?.creationTimestamp, now), formatLabels(s.spec?.selector)],
  }),
};

/** net.JoinHostPort: IPv6 addresses in brackets. */
const joinHostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

function formatEndpoints(e: Endpoints): string {
  if (!e.subsets?.length) return NONE;
  const all: string[] = [];
  let count = 0;
  for (const ss of e.subsets) {
    const ports = ss.ports?.length ? ss.ports : [undefined];
    for (const port of ports) {
      for (const a of ss.addresses ?? []) {
        count++;
        if (all.length < 3) all.push(port ? joinHostPort(a.ip, port.port) : a.ip);
      }
    }
  }
  return listWithMore(all, 3, count);
}

const endpointsPrinter: Printer = {
  columns: () => [NAME(), col('Endpoints', 'string', 'Endpoints of the service'), AGE()],
  row: (e: Endpoints, now) => ({ cells: [e.metadata?.name ?? '', formatEndpoints(e), age(e.metadata?.creationTimestamp, now)] }),
};

function ingressHosts(i: Ingress): string {
  const rules = i.spec?.rules ?? [];
  const list: string[] = [];
  let more = false;
  for (const r of rules) {
    if (list.length === 3) more = true;
    if (!more && r.host) list.push(r.host);
  }
  if (!list.length) return '*';
  // As upstream, the count left over is of rules, hosts or not.
  return more ? `${list.join(',')} + ${rules.length - 3} more...` : list.join(',');
}

const ingressPrinter: Printer = {
  columns: () => [
    NAME(),
    col('Class', 'string', 'The name of the IngressClass resource to use for this Ingress.'),
    col('Hosts', 'string', 'Hosts that incoming requests are matched against before the ingress rule'),
    col('Address', 'string', 'Address is a list containing ingress points for the load-balancer'),
    col('Ports', 'string', 'Ports of TLS configurations that open'),
    AGE(),
  ],
  row: (i: Ingress, now) => ({
    cells: [
      i.metadata?.name ?? '', i.spec?.ingressClassName || NONE, ingressHosts(i),
      loadBalancerPoints(i.status?.loadBalancer?.ingress).join(','),
      i.spec?.tls?.length ? '80, 443' : '80', age(i.metadata?.creationTimestamp, now),
    ],
  }),
};

const ingressClassPrinter: Printer = {
  columns: () => [
    NAME(),
    col('Controller', 'string', 'Controller that is in charge of handling this ingress class.'),
    col('Parameters', 'string', 'A reference to a resource with additional parameters.'),
    AGE(),
  ],
  row: (c: IngressClass, now) => {
    const p = c.spec?.parameters;
    const params = p ? `${p.kind}${p.apiGroup ? `.${p.apiGroup}` : ''}/${p.name}` : NONE;
    return { cells: [c.metadata?.name ?? '', c.spec?.controller ?? '', params, age(c.metadata?.creationTimestamp, now)] };
  },
};

const endpointSlicePrinter: Printer = {
  columns: () => [
    NAME(),
    col('AddressType', 'string', 'The IP protocol for this slice'),
    col('Ports', 'string', 'The ports exposed by this slice'),
    col('Endpoints', 'string', 'The endpoints exposed by this slice'),
    AGE(),
  ],
  row: (e: EndpointSlice, now) => {
    const ports = (e.ports ?? []).map((p) => (p.port !== undefined && p.port !== null ? String(p.port) : p.name ?? '*'));
    const addrs = (e.endpoints ?? []).flatMap((x) => x.addresses ?? []);
    const portText = listWithMore(ports, 3, ports.length) || '<unset>';
    const epText = listWithMore(addrs, 3, addrs.length) || '<unset>';
    return { cells: [e.metadata?.name ?? '', e.addressType ?? '', portText, epText, age(e.metadata?.creationTimestamp, now)] };
  },
};

// ---------------------------------------------------------------------------
// config, cluster

const configMapPrinter: Printer = {
  columns: () => [NAME(), col('Data', 'string', 'Data contains the configuration data.'), AGE()],
  row: (c: ConfigMap, now) => ({ cells: [c.metadata?.name ?? '', Object.keys(c.data ?? {}).length + Object.keys(c.binaryData ?? {}).length, age(c.metadata?.creationTimestamp, now)] }),
};

const secretPrinter: Printer = {
  columns: () => [NAME(), col('Type', 'string', 'The type of the secret'), col('Data', 'string', 'The number of entries in the data map.'), AGE()],
  row: (s: Secret, now) => ({ cells: [s.metadata?.name ?? '', s.type ?? '', Object.keys(s.data ?? {}).length, age(s.metadata?.creationTimestamp, now)] }),
};

const serviceAccountPrinter: Printer = {
  columns: () => [NAME(), col('Secrets', 'string', 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.'), AGE()],
  row: (s: ServiceAccount, now) => ({ cells: [s.metadata?.name ?? '', (s.secrets ?? []).length, age(s.metadata?.creationTimestamp, now)] }),
};

const namespacePrinter: Printer = {
  columns: () => [NAME(), col('Status', 'string', 'The status of the namespace'), AGE()],
  row: (n: Namespace, now) => ({ cells: [n.metadata?.name ?? '', n.status?.phase ?? '', age(n.metadata?.creationTimestamp, now)] }),
};

function nodeRoles(n: Node): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(n.metadata?.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) { const r = k.slice('node-role.kubernetes.io/'.length); if (r) roles.add(r); }
    else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  return roles.size ? [...roles].sort().join(',') : NONE;
}

const nodePrinter: Printer = {
  columns: () => [
    NAME(),
    col('Status', 'string', 'The status of the node'),
    col('Roles', 'string', 'The roles of the node'),
    AGE(),
    col('Version', 'string', 'Kubelet Version reported by the node.'),
    col('Internal-IP', 'string', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
    col('External-IP', 'string', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
    col('OS-Image', 'string', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
    col('Kernel-Version', 'string', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
    col('Container-Runtime', 'string', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', 1),
  ],
  row: (n: Node, now) => {
    const ready = (n.status?.conditions ?? []).find((c) => c.type === 'Ready');
    const statuses = [ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown'];
    if (n.spec?.unschedulable) statuses.push('SchedulingDisabled');
    const addr = (t: string) => (n.status?.addresses ?? []).find((a) => a.type === t)?.address ?? NONE;
    const info = n.status?.nodeInfo;
    return {
      cells: [n.metadata?.name ?? '', statuses.join(','), nodeRoles(n), age(n.metadata?.creationTimestamp, now), info?.kubeletVersion ?? '',
        addr('InternalIP'), addr('ExternalIP'), info?.osImage || '<unknown>', info?.kernelVersion || '<unknown>', info?.containerRuntimeVersion || '<unknown>'],
    };
  },
};

const leasePrinter: Printer = {
  columns: () => [NAME(), col('Holder', 'string', 'holderIdentity contains the identity of the holder of a current lease.'), AGE()],
  row: (l: Lease, now) => ({ cells: [l.metadata?.name ?? '', l.spec?.holderIdentity ?? '', age(l.metadata?.creationTimestamp, now)] }),
};

// ---------------------------------------------------------------------------
// workloads

function containersAndImages(cs: Container[] | undefined): [string, string] {
  return [(cs ?? []).map((c) => c.name).join(','), (cs ?? []).map((c) => c.image ?? '').join(',')];
}

const deploymentPrinter: Printer = {
  columns: () => [
    NAME(),
    col('Ready', 'string', 'Number of the pod with ready state'),
    col('Up-to-date', 'integer', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
    col('Available', 'integer', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'),
    AGE(),
    col('Containers', 'string', 'Names of each container in the template.', 1),
    col('Images', 'string', 'Images referenced by each container in the template.', 1),
    col('Selector', 'string', 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.', 1),
  ],
  row: (d: Deployment, now) => {
    const [names, images] = containersAndImages(d.spec?.template?.spec?.containers);
    return {
      cells: [d.metadata?.name ?? '', `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`, d.status?.updatedReplicas ?? 0, d.status?.availableReplicas ?? 0,
        age(d.metadata?.creationTimestamp, now), names, images, labelSelectorString(d.spec?.selector)],
    };
  },
};

const replicaSetPrinter: Printer = {
  columns: () => [
    NAME(),
    col('Desired', 'integer', 'Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller'),
    col('Current', 'integer', 'Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller'),
    col('Ready', 'integer', 'The number of ready replicas for this replica set.'),
    AGE(),
    col('Containers', 'string', 'Names of each container in the template.', 1),
    col('Images', 'string', 'Images referenced by each container in the template.', 1),
    col('Selector', 'string', 'Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template\'s labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors', 1),
  ],
  row: (r: ReplicaSet, now) => {
    const [names, images] = containersAndImages(r.spec?.template?.spec?.containers);
    return {
      cells: [r.metadata?.name ?? '', r.spec?.replicas ?? 0, r.status?.replicas ?? 0, r.status?.readyReplicas ?? 0, age(r.metadata?.creationTimestamp, now),
        names, images, formatLabelSelector(r.spec?.selector)],
    };
  },
};

const jobDoc = (t: string, f: string): string => resolveRef(`io.k8s.api.batch.v1.${t}`)?.properties?.[f]?.description ?? '';

/** Upstream printJob: the condition that decides the job (Complete, Failed...), done/wanted, and how long it ran. */
const jobPrinter: Printer = {
  columns: () => [
    NAME(),
    col('Status', 'string', 'Status of the job.'),
    col('Completions', 'string', jobDoc('JobStatus', 'succeeded')),
    col('Duration', 'string', 'Time required to complete the job.'),
    AGE(),
    col('Containers', 'string', 'Names of each container in the template.', 1),
    col('Images', 'string', 'Images referenced by each container in the template.', 1),
    col('Selector', 'string', jobDoc('JobSpec', 'selector'), 1),
  ],
  row: (j: Job, now) => {
    const succeeded = j.status?.succeeded ?? 0;
    const parallelism = j.spec?.parallelism ?? 0;
    const completions = j.spec?.completions !== undefined && j.spec?.completions !== null ? `${succeeded}/${j.spec.completions}`
      : parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
    const start = j.status?.startTime ? Date.parse(j.status.startTime) : undefined;
    const end = j.status?.completionTime ? Date.parse(j.status.completionTime) : undefined;
    const took = start === undefined ? '' : humanDuration((end ?? now.getTime()) - start);
    const is = (type: string): boolean => (j.status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
    const status = is('Complete') ? 'Complete' : is('Failed') ? 'Failed' : j.metadata?.deletionTimestamp ? 'Terminating'
      : is('Suspended') ? 'Suspended' : is('FailureTarget') ? 'FailureTarget' : is('SuccessCriteriaMet') ? 'SuccessCriteriaMet' : 'Running';
    const [names, images] = containersAndImages(j.spec?.template?.spec?.containers);
    return { cells: [j.metadata?.name ?? '', status, completions, took, age(j.metadata?.creationTimestamp, now), names, images, formatLabelSelector(j.spec?.selector)] };
  },
};

/** Upstream printCronJob. */
const cronJobPrinter: Printer = {
  columns: () => [
    NAME(),
    col('Schedule', 'string', jobDoc('CronJobSpec', 'schedule')),
    col('Timezone', 'string', jobDoc('CronJobSpec', 'timeZone')),
    col('Suspend', 'boolean', jobDoc('CronJobSpec', 'suspend')),
    col('Active', 'integer', jobDoc('CronJobStatus', 'active')),
    col('Last Schedule', 'string', jobDoc('CronJobStatus', 'lastScheduleTime')),
    AGE(),
    col('Containers', 'string', 'Names of each container in the template.', 1),
    col('Images', 'string', 'Images referenced by each container in the template.', 1),
    col('Selector', 'string', jobDoc('JobSpec', 'selector'), 1),
  ],
  row: (c: CronJob, now) => {
    const suspend = c.spec?.suspend === undefined || c.spec?.suspend === null ? '<unset>' : c.spec.suspend ? 'True' : 'False';
    const last = c.status?.lastScheduleTime ? age(c.status.lastScheduleTime, now) : NONE;
    const [names, images] = containersAndImages(c.spec?.jobTemplate?.spec?.template?.spec?.containers);
    return { cells: [c.metadata?.name ?? '', c.spec?.schedule ?? '', c.spec?.timeZone || NONE, suspend, (c.status?.active ?? []).length, last,
      age(c.metadata?.creationTimestamp, now), names, images, formatLabelSelector(c.spec?.jobTemplate?.spec?.selector)] };
  },
};

// ---------------------------------------------------------------------------
// events

const eventColumns = (): TableColumnDefinition[] => [
  col('Last Seen', 'string', 'Time when last event occurred'),
  col('Type', 'string', 'Type of this event (Normal, Warning), new types could be added in the future.'),
  col('Reason', 'string', 'This should be a short, machine understandable string that gives the reason for the transition into the object\'s current status.'),
  col('Object', 'string', 'The object that this event is about.'),
  col('Subobject', 'string', 'The subobject that this event is about.', 1),
  col('Source', 'string', 'The component reporting this event. Should be a short machine understandable string.', 1),
  col('Message', 'string', 'A human-readable description of the status of this operation.'),
  col('First Seen', 'string', 'Time when first event occurred', 1),
  col('Count', 'string', 'The number of times this event has occurred.', 1),
  col('Name', 'string', metaDoc('name'), 1, 'name'),
];

function eventRow(e: Event, now: Date): { cells: unknown[] } {
  const first = e.firstTimestamp ? age(e.firstTimestamp, now) : age(e.eventTime, now);
  let last: string;
  if (e.series?.lastObservedTime) last = age(e.series.lastObservedTime, now);
  else if (e.lastTimestamp) last = age(e.lastTimestamp, now);
  else last = first;
  // Singleton events of the events.k8s.io API have no count: they happened once.
  const count = e.series ? e.series.count ?? 0 : e.count || 1;
  // formatEventSource: component (else the reporting controller), then ", host" (else instance) when there is one.
  const component = e.source?.component || e.reportingComponent || '';
  const instance = e.source?.host || e.reportingInstance || '';
  const source = instance ? `${component}, ${instance}` : component;
  const obj = e.involvedObject;
  const kind = (obj?.kind ?? '').toLowerCase();
  const target = obj?.name ? `${kind}/${obj.name}` : kind;
  return {
    cells: [last, e.type ?? '', e.reason ?? '', target, obj?.fieldPath ?? '', source, (e.message ?? '').trim(), first, count, e.metadata?.name ?? ''],
  };
}

const eventPrinter: Printer = { columns: eventColumns, row: eventRow };

/** events.k8s.io/v1 Events print like core ones, from their own field names. */
const eventV1Printer: Printer = {
  columns: eventColumns,
  row: (e: EventV1, now) => eventRow({
    metadata: e.metadata ?? {}, involvedObject: e.regarding ?? {}, reason: e.reason, message: e.note, type: e.type,
    eventTime: e.eventTime, firstTimestamp: e.deprecatedFirstTimestamp, lastTimestamp: e.deprecatedLastTimestamp,
    count: e.deprecatedCount, source: e.deprecatedSource, reportingComponent: e.reportingController, reportingInstance: e.reportingInstance,
    series: e.series ? { count: e.series.count, lastObservedTime: e.series.lastObservedTime } : undefined,
  }, now),
};

// ---------------------------------------------------------------------------
// RBAC: roles print their creation time (RFC 3339, UTC), bindings their role and subjects.

const rolePrinter: Printer = {
  columns: () => [NAME(), col('Created At', 'date', metaDoc('creationTimestamp'))],
  row: (r: Obj) => ({ cells: [r.metadata?.name ?? '', r.metadata?.creationTimestamp ? new Date(r.metadata.creationTimestamp).toISOString().replace(/\.\d{3}Z$/, 'Z') : '0001-01-01T00:00:00Z'] }),
};

function bindingPrinter(what: string): Printer {
  return {
    columns: () => [
      NAME(),
      col('Role', 'string', resolveRef('io.k8s.api.rbac.v1.RoleBinding')?.properties?.roleRef?.description ?? ''),
      AGE(),
      col('Users', 'string', `Users in the ${what}`, 1),
      col('Groups', 'string', `Groups in the ${what}`, 1),
      col('ServiceAccounts', 'string', `ServiceAccounts in the ${what}`, 1),
    ],
    row: (b: RoleBinding | ClusterRoleBinding, now) => {
      const subjects = b.subjects ?? [];
      const names = (kind: string) => subjects.filter((s) => s.kind === kind).map((s) => (kind === 'ServiceAccount' ? `${s.namespace ?? ''}/${s.name}` : s.name)).join(', ');
      return { cells: [b.metadata?.name ?? '', `${b.roleRef?.kind ?? ''}/${b.roleRef?.name ?? ''}`, age(b.metadata?.creationTimestamp, now), names('User'), names('Group'), names('ServiceAccount')] };
    },
  };
}

// ---------------------------------------------------------------------------

const printers: Record<string, Printer> = {
  '/v1/Pod': podPrinter,
  '/v1/Service': servicePrinter,
  '/v1/ConfigMap': configMapPrinter,
  '/v1/Secret': secretPrinter,
  '/v1/Endpoints': endpointsPrinter,
  '/v1/Node': nodePrinter,
  '/v1/Namespace': namespacePrinter,
  '/v1/Event': eventPrinter,
  '/v1/ServiceAccount': serviceAccountPrinter,
  'apps/v1/Deployment': deploymentPrinter,
  'apps/v1/ReplicaSet': replicaSetPrinter,
  'batch/v1/Job': jobPrinter,
  'batch/v1/CronJob': cronJobPrinter,
  'networking.k8s.io/v1/Ingress': ingressPrinter,
  'networking.k8s.io/v1/IngressClass': ingressClassPrinter,
  'discovery.k8s.io/v1/EndpointSlice': endpointSlicePrinter,
  'coordination.k8s.io/v1/Lease': leasePrinter,
  'events.k8s.io/v1/Event': eventV1Printer,
  'rbac.authorization.k8s.io/v1/Role': rolePrinter,
  'rbac.authorization.k8s.io/v1/ClusterRole': rolePrinter,
  'rbac.authorization.k8s.io/v1/RoleBinding': bindingPrinter('roleBinding'),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': bindingPrinter('clusterRoleBinding'),
};

const defaultPrinter: Printer = {
  columns: () => [NAME(), AGE()],
  row: (o: Obj, now) => ({ cells: [o.metadata?.name ?? '', age(o.metadata?.creationTimestamp, now)] }),
};

function partialObject(o: Obj): object {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata ?? {} };
}

/**
 * A Table of objs of one kind. Rows carry the object as PartialObjectMetadata
 * (includeObject=Metadata, upstream's default), the full object, or nothing.
 * The caller sets metadata.resourceVersion/continue.
 */
export function toTable(group: string, version: string, kind: string, objs: object[], now: Date, includeObject: IncludeObject = 'Metadata'): Table {
  const p = printers[`${group}/${version}/${kind}`] ?? defaultPrinter;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: {},
    columnDefinitions: p.columns(),
    rows: objs.map((o) => {
      const r = p.row(o, now);
      const row: TableRow = { cells: r.cells };
      if (r.conditions) row.conditions = r.conditions;
      if (includeObject === 'Metadata') row.object = partialObject(o as Obj);
      else if (includeObject === 'Object') row.object = o;
      return row;
    }),
  };
}
