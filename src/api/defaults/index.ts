// Defaulting of the built-in kinds, as upstream's SetDefaults_* functions
// (pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go, ...) plus the few
// values kube-apiserver's admission and registry add on create (priority,
// default tolerations, service IP families). applyDefaults mutates its argument and
// is idempotent, so it can run on every create and update.
import type { Container, EphemeralContainer, Pod, PodSpec, PodTemplateSpec, Probe, Service, Volume, Namespace, Secret, Node, Endpoints, Toleration, LifecycleHandler, HTTPGetAction, ResourceRequirements } from 'kubernetes-types/core/v1.js';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { CronJob, Job } from 'kubernetes-types/batch/v1.js';
import type { ClusterRoleBinding, RoleBinding } from 'kubernetes-types/rbac/v1.js';

type Defaulter = (obj: any) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

const DEFAULT_MODE = 0o644; // 420, as upstream's SecretVolumeSourceDefaultMode etc.

/** Apply upstream's defaults for (group, version, kind) to obj, in place. Unknown kinds are left alone. */
export function applyDefaults(group: string, version: string, kind: string, obj: object): void {
  const d = defaulters[`${group}/${version}/${kind}`];
  if (d) d(obj);
}

const defaulters: Record<string, Defaulter> = {
  '/v1/Pod': (p: Pod) => defaultPod(p),
  '/v1/Service': (s: Service) => defaultService(s),
  '/v1/Namespace': (n: Namespace) => defaultNamespace(n),
  '/v1/Secret': (s: Secret) => { if (!s.type) s.type = 'Opaque'; },
  '/v1/Node': (n: Node) => defaultNode(n),
  '/v1/Endpoints': (e: Endpoints) => {
    for (const sub of e.subsets ?? []) for (const p of sub.ports ?? []) if (!p.protocol) p.protocol = 'TCP';
  },
  'apps/v1/Deployment': (d: Deployment) => defaultDeployment(d),
  'apps/v1/ReplicaSet': (r: ReplicaSet) => {
    r.spec ??= {} as ReplicaSet['spec'] & object;
    if (r.spec!.replicas === undefined || r.spec!.replicas === null) r.spec!.replicas = 1;
    if (r.spec!.template) defaultPodTemplate(r.spec!.template);
  },
  'batch/v1/Job': (j: Job) => defaultJob(j),
  'batch/v1/CronJob': (c: CronJob) => defaultCronJob(c),
  'discovery.k8s.io/v1/EndpointSlice': (e: EndpointSlice) => {
    for (const p of e.ports ?? []) {
      if (p.protocol === undefined || p.protocol === null) p.protocol = 'TCP';
      if (p.name === undefined || p.name === null) p.name = '';
    }
  },
  'rbac.authorization.k8s.io/v1/RoleBinding': (b: RoleBinding) => defaultBinding(b),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': (b: ClusterRoleBinding) => defaultBinding(b),
  // Ingress, IngressClass, Lease, Events, ConfigMap, ServiceAccount: upstream has no
  // defaults for these (an Ingress path's pathType is required, not defaulted).
};

// ---------------------------------------------------------------------------
// Jobs (pkg/apis/batch/v1/defaults.go SetDefaults_Job)

const unset = (v: unknown): boolean => v === undefined || v === null;

export function defaultJob(j: Job): void {
  const spec = (j.spec ??= {} as Job['spec'] & object)!;
  // A non-parallel job may leave both unset: both become 1.
  if (unset(spec.completions) && unset(spec.parallelism)) spec.completions = 1;
  if (unset(spec.parallelism)) spec.parallelism = 1;
  if (unset(spec.backoffLimit)) spec.backoffLimit = unset(spec.backoffLimitPerIndex) ? 6 : 2147483647;
  if (!spec.completionMode) spec.completionMode = 'NonIndexed';
  if (unset(spec.suspend)) spec.suspend = false;
  for (const rule of spec.podFailurePolicy?.rules ?? []) for (const p of rule.onPodConditions ?? []) if (!p.status) p.status = 'True';
  if (!spec.podReplacementPolicy) spec.podReplacementPolicy = spec.podFailurePolicy ? 'Failed' : 'TerminatedOrFailed';
  if (unset(spec.manualSelector)) spec.manualSelector = false;
  if (spec.template) defaultPodTemplate(spec.template);
}

/** SetDefaults_CronJob; the job template's pod template gets the pod defaults (its JobSpec does not get SetDefaults_Job). */
export function defaultCronJob(c: CronJob): void {
  const spec = (c.spec ??= {} as CronJob['spec'] & object)!;
  if (!spec.concurrencyPolicy) spec.concurrencyPolicy = 'Allow';
  if (unset(spec.suspend)) spec.suspend = false;
  if (unset(spec.successfulJobsHistoryLimit)) spec.successfulJobsHistoryLimit = 3;
  if (unset(spec.failedJobsHistoryLimit)) spec.failedJobsHistoryLimit = 1;
  const t = spec.jobTemplate?.spec?.template;
  if (t) defaultPodTemplate(t);
}

// ---------------------------------------------------------------------------
// RBAC bindings (pkg/apis/rbac/v1/defaults.go): the role reference and User/Group
// subjects are in rbac.authorization.k8s.io unless said otherwise.

function defaultBinding(b: RoleBinding | ClusterRoleBinding): void {
  if (b.roleRef && !b.roleRef.apiGroup) b.roleRef.apiGroup = 'rbac.authorization.k8s.io';
  for (const s of b.subjects ?? []) {
    if (s && !s.apiGroup && (s.kind === 'User' || s.kind === 'Group')) s.apiGroup = 'rbac.authorization.k8s.io';
  }
}

// ---------------------------------------------------------------------------
// Pods

export function defaultPod(pod: Pod): void {
  pod.spec ??= { containers: [] };
  const spec = pod.spec;
  // SetDefaults_Pod: requests default to limits, container by container.
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) defaultRequestsFromLimits(c.resources);
  if (spec.enableServiceLinks === undefined || spec.enableServiceLinks === null) spec.enableServiceLinks = true;
  defaultPodSpec(spec);
  // The Priority admission plugin, with no PriorityClass in use.
  if (spec.priority === undefined || spec.priority === null) spec.priority = 0;
  if (!spec.preemptionPolicy) spec.preemptionPolicy = 'PreemptLowerPriority';
}

function defaultRequestsFromLimits(r: ResourceRequirements | undefined): void {
  if (!r?.limits) return;
  for (const [name, q] of Object.entries(r.limits)) {
    r.requests ??= {};
    if (r.requests[name] === undefined) r.requests[name] = q;
  }
}

/** SetDefaults_PodSpec and what it cascades to (containers, ports, probes, volumes). */
export function defaultPodSpec(spec: PodSpec): void {
  if (!spec.dnsPolicy) spec.dnsPolicy = 'ClusterFirst';
  if (!spec.restartPolicy) spec.restartPolicy = 'Always';
  if (!spec.securityContext) spec.securityContext = {};
  if (spec.terminationGracePeriodSeconds === undefined || spec.terminationGracePeriodSeconds === null) spec.terminationGracePeriodSeconds = 30;
  if (!spec.schedulerName) spec.schedulerName = 'default-scheduler';
  for (const c of spec.containers ?? []) defaultContainer(c, spec.hostNetwork === true);
  for (const c of spec.initContainers ?? []) defaultContainer(c, spec.hostNetwork === true);
  for (const c of spec.ephemeralContainers ?? []) defaultContainer(c, false);
  for (const v of spec.volumes ?? []) defaultVolume(v);
}

function defaultPodTemplate(t: PodTemplateSpec): void {
  t.spec ??= { containers: [] };
  defaultPodSpec(t.spec);
}

/** The image's tag is "latest" or missing (a digest counts as pinned). */
function pullsAlways(image: string): boolean {
  if (image.includes('@')) return false;
  const lastSlash = image.lastIndexOf('/');
  const colon = image.indexOf(':', lastSlash + 1);
  return colon < 0 || image.slice(colon + 1) === 'latest';
}

function defaultContainer(c: Container | EphemeralContainer, hostNetwork: boolean): void {
  if (!c.imagePullPolicy && c.image !== undefined) c.imagePullPolicy = pullsAlways(c.image) ? 'Always' : 'IfNotPresent';
  if (!c.terminationMessagePath) c.terminationMessagePath = '/dev/termination-log';
  if (!c.terminationMessagePolicy) c.terminationMessagePolicy = 'File';
  for (const p of c.ports ?? []) {
    if (!p.protocol) p.protocol = 'TCP';
    // Host-network pods expose container ports on the host.
    if (hostNetwork && !p.hostPort) p.hostPort = p.containerPort;
  }
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) if (probe) defaultProbe(probe);
  if (c.lifecycle?.postStart) defaultHandler(c.lifecycle.postStart);
  if (c.lifecycle?.preStop) defaultHandler(c.lifecycle.preStop);
  for (const e of c.env ?? []) {
    const f = e.valueFrom?.fieldRef;
    if (f && !f.apiVersion) f.apiVersion = 'v1';
  }
}

function defaultHttpGet(h: HTTPGetAction): void {
  if (!h.path) h.path = '/';
  if (!h.scheme) h.scheme = 'HTTP';
}

function defaultHandler(h: LifecycleHandler): void {
  if (h.httpGet) defaultHttpGet(h.httpGet);
}

function defaultProbe(p: Probe): void {
  if (!p.timeoutSeconds) p.timeoutSeconds = 1;
  if (!p.periodSeconds) p.periodSeconds = 10;
  if (!p.successThreshold) p.successThreshold = 1;
  if (!p.failureThreshold) p.failureThreshold = 3;
  if (p.httpGet) defaultHttpGet(p.httpGet);
}

const VOLUME_SOURCES = ['hostPath', 'emptyDir', 'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo', 'secret', 'nfs', 'iscsi', 'glusterfs', 'persistentVolumeClaim', 'rbd', 'flexVolume', 'cinder', 'cephfs', 'flocker', 'downwardAPI', 'fc', 'azureFile', 'configMap', 'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'projected', 'portworxVolume', 'scaleIO', 'storageos', 'csi', 'ephemeral'] as const;

function defaultVolume(v: Volume): void {
  // A volume with no source is an emptyDir.
  if (!VOLUME_SOURCES.some((k) => v[k] !== undefined && v[k] !== null)) v.emptyDir = {};
  if (v.secret && (v.secret.defaultMode === undefined || v.secret.defaultMode === null)) v.secret.defaultMode = DEFAULT_MODE;
  if (v.configMap && (v.configMap.defaultMode === undefined || v.configMap.defaultMode === null)) v.configMap.defaultMode = DEFAULT_MODE;
  if (v.downwardAPI) {
    if (v.downwardAPI.defaultMode === undefined || v.downwardAPI.defaultMode === null) v.downwardAPI.defaultMode = DEFAULT_MODE;
    for (const i of v.downwardAPI.items ?? []) if (i.fieldRef && !i.fieldRef.apiVersion) i.fieldRef.apiVersion = 'v1';
  }
  if (v.projected) {
    if (v.projected.defaultMode === undefined || v.projected.defaultMode === null) v.projected.defaultMode = DEFAULT_MODE;
    for (const s of v.projected.sources ?? []) {
      for (const i of s.downwardAPI?.items ?? []) if (i.fieldRef && !i.fieldRef.apiVersion) i.fieldRef.apiVersion = 'v1';
      if (s.serviceAccountToken && !s.serviceAccountToken.expirationSeconds) s.serviceAccountToken.expirationSeconds = 3600;
    }
  }
  if (v.hostPath && v.hostPath.type === undefined) v.hostPath.type = '';
  if (v.iscsi && !v.iscsi.iscsiInterface) v.iscsi.iscsiInterface = 'default';
}

/**
 * The DefaultTolerationSeconds admission plugin: pods tolerate not-ready and
 * unreachable nodes for 300 s unless they already say otherwise.
 */
export function addDefaultTolerations(pod: Pod, seconds = 300): void {
  pod.spec ??= { containers: [] };
  const tolerations = pod.spec.tolerations ?? [];
  const tolerates = (key: string): boolean => tolerations.some((t) =>
    (t.effect === 'NoExecute' || !t.effect) && (t.key === key || (!t.key && t.operator === 'Exists')));
  const add: Toleration[] = [];
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
    if (!tolerates(key)) add.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: seconds });
  }
  if (add.length) pod.spec.tolerations = [...tolerations, ...add];
}

/**
 * v1's deprecated spec.serviceAccount is an alias of serviceAccountName (upstream's v1
 * conversion): either one names the account, and both are served. The "default" account
 * comes from the ServiceAccount admission plugin.
 */
export function syncDeprecatedServiceAccount(pod: Pod): void {
  const spec = (pod.spec ??= { containers: [] });
  const name = spec.serviceAccountName || spec.serviceAccount;
  if (!name) return;
  spec.serviceAccountName = name;
  spec.serviceAccount = name;
}

/** A pod's QoS class (status.qosClass), as upstream's qos.GetPodQOS. */
export function podQOSClass(pod: Pod): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  let anySet = false;
  let guaranteed = true;
  for (const c of containers) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    for (const r of ['cpu', 'memory']) {
      if (req[r] !== undefined && !isZero(req[r]!)) anySet = true;
      if (lim[r] !== undefined && !isZero(lim[r]!)) anySet = true;
      if (lim[r] === undefined || isZero(lim[r]!)) guaranteed = false;
      else if (req[r] !== undefined && String(req[r]) !== String(lim[r])) guaranteed = false;
    }
  }
  if (!anySet) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function isZero(q: string | number): boolean {
  return /^[+-]?0*(\.0*)?([a-zA-Z]*|e[+-]?\d+)?$/.test(String(q).trim());
}

// ---------------------------------------------------------------------------
// Other kinds

export function defaultService(s: Service): void {
  s.spec ??= {};
  const spec = s.spec;
  if (!spec.type) spec.type = 'ClusterIP';
  if (!spec.sessionAffinity) spec.sessionAffinity = 'None';
  if (spec.sessionAffinity === 'ClientIP' && !spec.sessionAffinityConfig?.clientIP?.timeoutSeconds) {
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
  }
  for (const p of spec.ports ?? []) {
    if (!p.protocol) p.protocol = 'TCP';
    if (p.targetPort === undefined || p.targetPort === null || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if ((spec.type === 'NodePort' || spec.type === 'LoadBalancer') && !spec.externalTrafficPolicy) spec.externalTrafficPolicy = 'Cluster';
  if (spec.type !== 'ExternalName') {
    if (!spec.internalTrafficPolicy) spec.internalTrafficPolicy = 'Cluster';
    // Set by the service registry when it allocates IPs; jotasu is IPv4 single-stack.
    if (!spec.ipFamilyPolicy) spec.ipFamilyPolicy = 'SingleStack';
    if (!spec.ipFamilies?.length) spec.ipFamilies = ['IPv4'];
  }
  if (spec.type === 'LoadBalancer' && (spec.allocateLoadBalancerNodePorts === undefined || spec.allocateLoadBalancerNodePorts === null)) spec.allocateLoadBalancerNodePorts = true;
}

export function defaultNamespace(n: Namespace): void {
  // SetDefaults_Namespace labels every namespace with its own name.
  const name = n.metadata?.name;
  if (name) {
    n.metadata!.labels ??= {};
    n.metadata!.labels['kubernetes.io/metadata.name'] = name;
  }
  // The `kubernetes` finalizer is the registry's PrepareForCreate, not a default: defaulting
  // it would put it back on every /finalize that removes it.
  n.status ??= {};
  if (!n.status.phase) n.status.phase = 'Active';
}

function defaultNode(n: Node): void {
  // Allocatable defaults to capacity.
  if (n.status?.capacity && !n.status.allocatable) n.status.allocatable = { ...n.status.capacity };
}

export function defaultDeployment(d: Deployment): void {
  d.spec ??= {} as NonNullable<Deployment['spec']>;
  const spec = d.spec;
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  spec.strategy ??= {};
  if (!spec.strategy.type) spec.strategy.type = 'RollingUpdate';
  if (spec.strategy.type === 'RollingUpdate') {
    spec.strategy.rollingUpdate ??= {};
    if (spec.strategy.rollingUpdate.maxUnavailable === undefined || spec.strategy.rollingUpdate.maxUnavailable === null) spec.strategy.rollingUpdate.maxUnavailable = '25%';
    if (spec.strategy.rollingUpdate.maxSurge === undefined || spec.strategy.rollingUpdate.maxSurge === null) spec.strategy.rollingUpdate.maxSurge = '25%';
  }
  if (spec.revisionHistoryLimit === undefined || spec.revisionHistoryLimit === null) spec.revisionHistoryLimit = 10;
  if (spec.progressDeadlineSeconds === undefined || spec.progressDeadlineSeconds === null) spec.progressDeadlineSeconds = 600;
  if (spec.template) defaultPodTemplate(spec.template);
}
