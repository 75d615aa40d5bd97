// What kubernetes-types' declarations cannot say about a field, looked up in the Go
// types upstream generates its OpenAPI from (k8s.io/api and k8s.io/apimachinery at
// v0.30, matching kubernetes-types 1.30): integer widths (`number` is int32 unless
// listed as int64/double), the strategic-merge-patch tags (`patchStrategy`,
// `patchMergeKey`) and the `+listType`, `+listMapKey`, `+mapType`, `+structType`
// markers. The patch engineer and scripts/gen-openapi.ts read this table; the
// generated definitions.json carries the same data as x-kubernetes-* extensions.
import type { SchemaNode } from './types.js';

export interface FieldMeta {
  format?: 'int64' | 'double';
  patchStrategy?: string;
  mergeKey?: string;
  listType?: 'atomic' | 'set' | 'map';
  listMapKeys?: string[];
  mapType?: 'atomic' | 'granular';
}

export interface TypeMeta {
  /** x-kubernetes-map-type of the struct itself (+structType=atomic). */
  mapType?: 'atomic' | 'granular';
  fields?: Record<string, FieldMeta>;
}

export const patchMetadata: Record<string, TypeMeta> = {
  'io.k8s.api.apps.v1.ControllerRevision': { fields: {
    revision: { format: 'int64' },
  } },
  'io.k8s.api.apps.v1.DaemonSetStatus': { fields: {
    observedGeneration: { format: 'int64' },
    conditions: { patchStrategy: 'merge', mergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
  } },
  'io.k8s.api.apps.v1.DeploymentSpec': { fields: {
    strategy: { patchStrategy: 'retainKeys' },
  } },
  'io.k8s.api.apps.v1.DeploymentStatus': { fields: {
    observedGeneration: { format: 'int64' },
    conditions: { patchStrategy: 'merge', mergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
  } },
  'io.k8s.api.apps.v1.ReplicaSetStatus': { fields: {
    observedGeneration: { format: 'int64' },
    conditions: { patchStrategy: 'merge', mergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
  } },
  'io.k8s.api.apps.v1.StatefulSetSpec': { fields: {
    volumeClaimTemplates: { listType: 'atomic' },
  } },
  'io.k8s.api.apps.v1.StatefulSetStatus': { fields: {
    observedGeneration: { format: 'int64' },
    conditions: { patchStrategy: 'merge', mergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
  } },
  'io.k8s.api.batch.v1.CronJobSpec': { fields: {
    startingDeadlineSeconds: { format: 'int64' },
  } },
  'io.k8s.api.batch.v1.CronJobStatus': { fields: {
    active: { listType: 'atomic' },
  } },
  'io.k8s.api.batch.v1.JobSpec': { fields: {
    activeDeadlineSeconds: { format: 'int64' },
  } },
  'io.k8s.api.batch.v1.JobStatus': { fields: {
    conditions: { patchStrategy: 'merge', mergeKey: 'type', listType: 'atomic' },
  } },
  'io.k8s.api.batch.v1.PodFailurePolicy': { fields: {
    rules: { listType: 'atomic' },
  } },
  'io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement': { fields: {
    values: { listType: 'set' },
  } },
  'io.k8s.api.batch.v1.PodFailurePolicyRule': { fields: {
    onPodConditions: { listType: 'atomic' },
  } },
  'io.k8s.api.batch.v1.SuccessPolicy': { fields: {
    rules: { listType: 'atomic' },
  } },
  'io.k8s.api.batch.v1.UncountedTerminatedPods': { fields: {
    failed: { listType: 'set' },
    succeeded: { listType: 'set' },
  } },
  'io.k8s.api.autoscaling.v1.CrossVersionObjectReference': { mapType: 'atomic' },
  'io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerStatus': { fields: {
    observedGeneration: { format: 'int64' },
  } },
  'io.k8s.api.core.v1.AvoidPods': { fields: {
    preferAvoidPods: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.Capabilities': { fields: {
    add: { listType: 'atomic' },
    drop: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.CephFSPersistentVolumeSource': { fields: {
    monitors: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.CephFSVolumeSource': { fields: {
    monitors: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.ComponentStatus': { fields: {
    conditions: { patchStrategy: 'merge', mergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
  } },
  'io.k8s.api.core.v1.ConfigMapKeySelector': { mapType: 'atomic' },
  'io.k8s.api.core.v1.ConfigMapProjection': { fields: {
    items: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.ConfigMapVolumeSource': { fields: {
    items: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.Container': { fields: {
    command: { listType: 'atomic' },
    args: { listType: 'atomic' },
    ports: { patchStrategy: 'merge', mergeKey: 'containerPort', listType: 'map', listMapKeys: ['containerPort', 'protocol'] },
    envFrom: { listType: 'atomic' },
    env: { patchStrategy: 'merge', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    resizePolicy: { listType: 'atomic' },
    volumeMounts: { patchStrategy: 'merge', mergeKey: 'mountPath', listType: 'map', listMapKeys: ['mountPath'] },
    volumeDevices: { patchStrategy: 'merge', mergeKey: 'devicePath', listType: 'map', listMapKeys: ['devicePath'] },
  } },
  'io.k8s.api.core.v1.ContainerImage': { fields: {
    names: { listType: 'atomic' },
    sizeBytes: { format: 'int64' },
  } },
  'io.k8s.api.core.v1.ContainerStatus': { fields: {
    volumeMounts: { patchStrategy: 'merge', mergeKey: 'mountPath', listType: 'map', listMapKeys: ['mountPath'] },
  } },
  'io.k8s.api.core.v1.DownwardAPIProjection': { fields: {
    items: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.DownwardAPIVolumeSource': { fields: {
    items: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.EndpointAddress': { mapType: 'atomic' },
  'io.k8s.api.core.v1.EndpointPort': { mapType: 'atomic' },
  'io.k8s.api.core.v1.EndpointSubset': { fields: {
    addresses: { listType: 'atomic' },
    notReadyAddresses: { listType: 'atomic' },
    ports: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.Endpoints': { fields: {
    subsets: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.EphemeralContainerCommon': { fields: {
    command: { listType: 'atomic' },
    args: { listType: 'atomic' },
    ports: { patchStrategy: 'merge', mergeKey: 'containerPort', listType: 'map', listMapKeys: ['containerPort', 'protocol'] },
    envFrom: { listType: 'atomic' },
    env: { patchStrategy: 'merge', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    resizePolicy: { listType: 'atomic' },
    volumeMounts: { patchStrategy: 'merge', mergeKey: 'mountPath', listType: 'map', listMapKeys: ['mountPath'] },
    volumeDevices: { patchStrategy: 'merge', mergeKey: 'devicePath', listType: 'map', listMapKeys: ['devicePath'] },
  } },
  'io.k8s.api.core.v1.ExecAction': { fields: {
    command: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.FCVolumeSource': { fields: {
    targetWWNs: { listType: 'atomic' },
    wwids: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.HTTPGetAction': { fields: {
    httpHeaders: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.HostAlias': { fields: {
    hostnames: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.ISCSIPersistentVolumeSource': { fields: {
    portals: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.ISCSIVolumeSource': { fields: {
    portals: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.LimitRangeSpec': { fields: {
    limits: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.LoadBalancerIngress': { fields: {
    ports: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.LoadBalancerStatus': { fields: {
    ingress: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.LocalObjectReference': { mapType: 'atomic' },
  'io.k8s.api.core.v1.NamespaceSpec': { fields: {
    finalizers: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.NamespaceStatus': { fields: {
    conditions: { patchStrategy: 'merge', mergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
  } },
  'io.k8s.api.core.v1.NodeAffinity': { fields: {
    preferredDuringSchedulingIgnoredDuringExecution: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.NodeSelector': { mapType: 'atomic', fields: {
    nodeSelectorTerms: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.NodeSelectorRequirement': { fields: {
    values: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.NodeSelectorTerm': { mapType: 'atomic', fields: {
    matchExpressions: { listType: 'atomic' },
    matchFields: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.NodeSpec': { fields: {
    podCIDRs: { patchStrategy: 'merge', listType: 'set' },
    taints: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.NodeStatus': { fields: {
    conditions: { patchStrategy: 'merge', mergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
    addresses: { patchStrategy: 'merge', mergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
    images: { listType: 'atomic' },
    volumesInUse: { listType: 'atomic' },
    volumesAttached: { listType: 'atomic' },
    runtimeHandlers: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.ObjectFieldSelector': { mapType: 'atomic' },
  'io.k8s.api.core.v1.ObjectReference': { mapType: 'atomic' },
  'io.k8s.api.core.v1.PersistentVolumeClaimSpec': { fields: {
    accessModes: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.PersistentVolumeClaimStatus': { fields: {
    accessModes: { listType: 'atomic' },
    conditions: { patchStrategy: 'merge', mergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
    allocatedResourceStatuses: { mapType: 'granular' },
  } },
  'io.k8s.api.core.v1.PersistentVolumeSpec': { fields: {
    accessModes: { listType: 'atomic' },
    mountOptions: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.PodAffinity': { fields: {
    requiredDuringSchedulingIgnoredDuringExecution: { listType: 'atomic' },
    preferredDuringSchedulingIgnoredDuringExecution: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.PodAffinityTerm': { fields: {
    namespaces: { listType: 'atomic' },
    matchLabelKeys: { listType: 'atomic' },
    mismatchLabelKeys: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.PodAntiAffinity': { fields: {
    requiredDuringSchedulingIgnoredDuringExecution: { listType: 'atomic' },
    preferredDuringSchedulingIgnoredDuringExecution: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.PodDNSConfig': { fields: {
    nameservers: { listType: 'atomic' },
    searches: { listType: 'atomic' },
    options: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.PodExecOptions': { fields: {
    command: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.PodLogOptions': { fields: {
    sinceSeconds: { format: 'int64' },
    tailLines: { format: 'int64' },
    limitBytes: { format: 'int64' },
  } },
  'io.k8s.api.core.v1.PodPortForwardOptions': { fields: {
    ports: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.PodSecurityContext': { fields: {
    runAsUser: { format: 'int64' },
    runAsGroup: { format: 'int64' },
    supplementalGroups: { format: 'int64', listType: 'atomic' },
    fsGroup: { format: 'int64' },
    sysctls: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.PodSpec': { fields: {
    volumes: { patchStrategy: 'merge,retainKeys', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    initContainers: { patchStrategy: 'merge', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    containers: { patchStrategy: 'merge', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    ephemeralContainers: { patchStrategy: 'merge', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    terminationGracePeriodSeconds: { format: 'int64' },
    activeDeadlineSeconds: { format: 'int64' },
    nodeSelector: { mapType: 'atomic' },
    imagePullSecrets: { patchStrategy: 'merge', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    tolerations: { listType: 'atomic' },
    hostAliases: { patchStrategy: 'merge', mergeKey: 'ip', listType: 'map', listMapKeys: ['ip'] },
    readinessGates: { listType: 'atomic' },
    topologySpreadConstraints: { patchStrategy: 'merge', mergeKey: 'topologyKey', listType: 'map', listMapKeys: ['topologyKey', 'whenUnsatisfiable'] },
    schedulingGates: { patchStrategy: 'merge', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    resourceClaims: { patchStrategy: 'merge,retainKeys', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
  } },
  'io.k8s.api.core.v1.PodStatus': { fields: {
    conditions: { patchStrategy: 'merge', mergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
    hostIPs: { patchStrategy: 'merge', mergeKey: 'ip', listType: 'atomic' },
    podIPs: { patchStrategy: 'merge', mergeKey: 'ip', listType: 'map', listMapKeys: ['ip'] },
    initContainerStatuses: { listType: 'atomic' },
    containerStatuses: { listType: 'atomic' },
    ephemeralContainerStatuses: { listType: 'atomic' },
    resourceClaimStatuses: { patchStrategy: 'merge,retainKeys', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
  } },
  'io.k8s.api.core.v1.Probe': { fields: {
    terminationGracePeriodSeconds: { format: 'int64' },
  } },
  'io.k8s.api.core.v1.ProjectedVolumeSource': { fields: {
    sources: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.RBDPersistentVolumeSource': { fields: {
    monitors: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.RBDVolumeSource': { fields: {
    monitors: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.ReplicationControllerSpec': { fields: {
    selector: { mapType: 'atomic' },
  } },
  'io.k8s.api.core.v1.ReplicationControllerStatus': { fields: {
    observedGeneration: { format: 'int64' },
    conditions: { patchStrategy: 'merge', mergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
  } },
  'io.k8s.api.core.v1.ResourceFieldSelector': { mapType: 'atomic' },
  'io.k8s.api.core.v1.ResourceQuotaSpec': { fields: {
    scopes: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.ResourceRequirements': { fields: {
    claims: { listType: 'map', listMapKeys: ['name'] },
  } },
  'io.k8s.api.core.v1.ScopeSelector': { mapType: 'atomic', fields: {
    matchExpressions: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.ScopedResourceSelectorRequirement': { fields: {
    values: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.SecretKeySelector': { mapType: 'atomic' },
  'io.k8s.api.core.v1.SecretProjection': { fields: {
    items: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.SecretReference': { mapType: 'atomic' },
  'io.k8s.api.core.v1.SecretVolumeSource': { fields: {
    items: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.SecurityContext': { fields: {
    runAsUser: { format: 'int64' },
    runAsGroup: { format: 'int64' },
  } },
  'io.k8s.api.core.v1.ServiceAccount': { fields: {
    secrets: { patchStrategy: 'merge', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    imagePullSecrets: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.ServiceAccountTokenProjection': { fields: {
    expirationSeconds: { format: 'int64' },
  } },
  'io.k8s.api.core.v1.ServiceSpec': { fields: {
    ports: { patchStrategy: 'merge', mergeKey: 'port', listType: 'map', listMapKeys: ['port', 'protocol'] },
    selector: { mapType: 'atomic' },
    clusterIPs: { listType: 'atomic' },
    externalIPs: { listType: 'atomic' },
    loadBalancerSourceRanges: { listType: 'atomic' },
    ipFamilies: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.ServiceStatus': { fields: {
    conditions: { patchStrategy: 'merge', mergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
  } },
  'io.k8s.api.core.v1.SleepAction': { fields: {
    seconds: { format: 'int64' },
  } },
  'io.k8s.api.core.v1.Toleration': { fields: {
    tolerationSeconds: { format: 'int64' },
  } },
  'io.k8s.api.core.v1.TopologySelectorLabelRequirement': { fields: {
    values: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.TopologySelectorTerm': { mapType: 'atomic', fields: {
    matchLabelExpressions: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.TopologySpreadConstraint': { fields: {
    matchLabelKeys: { listType: 'atomic' },
  } },
  'io.k8s.api.core.v1.TypedLocalObjectReference': { mapType: 'atomic' },
  'io.k8s.api.discovery.v1.Endpoint': { fields: {
    addresses: { listType: 'set' },
  } },
  'io.k8s.api.discovery.v1.EndpointHints': { fields: {
    forZones: { listType: 'atomic' },
  } },
  'io.k8s.api.discovery.v1.EndpointPort': { mapType: 'atomic' },
  'io.k8s.api.discovery.v1.EndpointSlice': { fields: {
    endpoints: { listType: 'atomic' },
    ports: { listType: 'atomic' },
  } },
  'io.k8s.api.networking.v1.HTTPIngressRuleValue': { fields: {
    paths: { listType: 'atomic' },
  } },
  'io.k8s.api.networking.v1.IPBlock': { fields: {
    except: { listType: 'atomic' },
  } },
  'io.k8s.api.networking.v1.IngressLoadBalancerIngress': { fields: {
    ports: { listType: 'atomic' },
  } },
  'io.k8s.api.networking.v1.IngressLoadBalancerStatus': { fields: {
    ingress: { listType: 'atomic' },
  } },
  'io.k8s.api.networking.v1.IngressSpec': { fields: {
    tls: { listType: 'atomic' },
    rules: { listType: 'atomic' },
  } },
  'io.k8s.api.networking.v1.IngressTLS': { fields: {
    hosts: { listType: 'atomic' },
  } },
  'io.k8s.api.networking.v1.NetworkPolicyEgressRule': { fields: {
    ports: { listType: 'atomic' },
    to: { listType: 'atomic' },
  } },
  'io.k8s.api.networking.v1.NetworkPolicyIngressRule': { fields: {
    ports: { listType: 'atomic' },
    from: { listType: 'atomic' },
  } },
  'io.k8s.api.networking.v1.NetworkPolicySpec': { fields: {
    ingress: { listType: 'atomic' },
    egress: { listType: 'atomic' },
    policyTypes: { listType: 'atomic' },
  } },
  'io.k8s.api.policy.v1.PodDisruptionBudgetSpec': { fields: {
    selector: { patchStrategy: 'replace' },
  } },
  'io.k8s.api.policy.v1.PodDisruptionBudgetStatus': { fields: {
    observedGeneration: { format: 'int64' },
    conditions: { patchStrategy: 'merge', mergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup': { fields: {
    versions: { listType: 'atomic' },
    serverAddressByClientCIDRs: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList': { fields: {
    groups: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.APIResource': { fields: {
    shortNames: { listType: 'atomic' },
    categories: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList': { fields: {
    resources: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions': { fields: {
    versions: { listType: 'atomic' },
    serverAddressByClientCIDRs: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.ApplyOptions': { fields: {
    dryRun: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Condition': { fields: {
    observedGeneration: { format: 'int64' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.CreateOptions': { fields: {
    dryRun: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions': { fields: {
    gracePeriodSeconds: { format: 'int64' },
    dryRun: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector': { mapType: 'atomic', fields: {
    matchExpressions: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement': { fields: {
    values: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta': { fields: {
    remainingItemCount: { format: 'int64' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.ListOptions': { fields: {
    timeoutSeconds: { format: 'int64' },
    limit: { format: 'int64' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta': { fields: {
    generation: { format: 'int64' },
    deletionGracePeriodSeconds: { format: 'int64' },
    ownerReferences: { patchStrategy: 'merge', mergeKey: 'uid', listType: 'map', listMapKeys: ['uid'] },
    finalizers: { patchStrategy: 'merge', listType: 'set' },
    managedFields: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference': { mapType: 'atomic' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.PatchOptions': { fields: {
    dryRun: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.RootPaths': { fields: {
    paths: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Status': { fields: {
    details: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails': { fields: {
    causes: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Table': { fields: {
    columnDefinitions: { listType: 'atomic' },
    rows: { listType: 'atomic' },
  } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.TableRow': { fields: {
    cells: { listType: 'atomic' },
    conditions: { listType: 'atomic' },
  } },
  // rbac.authorization.k8s.io/v1, authorization.k8s.io/v1, authentication.k8s.io/v1
  'io.k8s.api.rbac.v1.AggregationRule': { fields: { clusterRoleSelectors: { listType: 'atomic' } } },
  'io.k8s.api.rbac.v1.ClusterRole': { fields: { rules: { listType: 'atomic' } } },
  'io.k8s.api.rbac.v1.ClusterRoleBinding': { fields: { subjects: { listType: 'atomic' } } },
  'io.k8s.api.rbac.v1.PolicyRule': { fields: {
    verbs: { listType: 'atomic' }, apiGroups: { listType: 'atomic' }, resources: { listType: 'atomic' },
    resourceNames: { listType: 'atomic' }, nonResourceURLs: { listType: 'atomic' },
  } },
  'io.k8s.api.rbac.v1.Role': { fields: { rules: { listType: 'atomic' } } },
  'io.k8s.api.rbac.v1.RoleBinding': { fields: { subjects: { listType: 'atomic' } } },
  'io.k8s.api.rbac.v1.RoleRef': { mapType: 'atomic' },
  'io.k8s.api.rbac.v1.Subject': { mapType: 'atomic' },
  'io.k8s.api.authorization.v1.NonResourceRule': { fields: { verbs: { listType: 'atomic' }, nonResourceURLs: { listType: 'atomic' } } },
  'io.k8s.api.authorization.v1.ResourceRule': { fields: {
    verbs: { listType: 'atomic' }, apiGroups: { listType: 'atomic' }, resources: { listType: 'atomic' }, resourceNames: { listType: 'atomic' },
  } },
  'io.k8s.api.authorization.v1.SubjectAccessReviewSpec': { fields: { groups: { listType: 'atomic' } } },
  'io.k8s.api.authorization.v1.SubjectRulesReviewStatus': { fields: { resourceRules: { listType: 'atomic' }, nonResourceRules: { listType: 'atomic' } } },
  'io.k8s.api.authentication.v1.TokenRequestSpec': { fields: { audiences: { listType: 'atomic' } } },
  'io.k8s.api.authentication.v1.TokenReviewSpec': { fields: { audiences: { listType: 'atomic' } } },
  'io.k8s.api.authentication.v1.TokenReviewStatus': { fields: { audiences: { listType: 'atomic' } } },
  'io.k8s.api.authentication.v1.UserInfo': { fields: { groups: { listType: 'atomic' } } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.UpdateOptions': { fields: {
    dryRun: { listType: 'atomic' },
  } },
};

type GVK = { group: string; version: string; kind: string };

// The group-versions whose requests may carry meta/v1 options (upstream lists every
// served group-version on DeleteOptions and WatchEvent).
const servedGroupVersions: [string, string][] = [
  ['', 'v1'], ['apps', 'v1'], ['autoscaling', 'v1'], ['coordination.k8s.io', 'v1'],
  ['discovery.k8s.io', 'v1'], ['events.k8s.io', 'v1'], ['networking.k8s.io', 'v1'], ['policy', 'v1'],
  ['authentication.k8s.io', 'v1'], ['authorization.k8s.io', 'v1'], ['rbac.authorization.k8s.io', 'v1'],
];
const everyGroup = (kind: string): GVK[] => servedGroupVersions.map(([group, version]) => ({ group, version, kind }));

/** Kinds whose .d.ts has no literal apiVersion/kind to derive the GVK from. */
export const extraGVKs: Record<string, GVK[]> = {
  'io.k8s.apimachinery.pkg.apis.meta.v1.Status': [{ group: '', version: 'v1', kind: 'Status' }],
  'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions': everyGroup('DeleteOptions'),
  'io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent': everyGroup('WatchEvent'),
  'io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList': [{ group: '', version: 'v1', kind: 'APIResourceList' }],
  'io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList': [{ group: '', version: 'v1', kind: 'APIGroupList' }],
  'io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup': [{ group: '', version: 'v1', kind: 'APIGroup' }],
  'io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions': [{ group: '', version: 'v1', kind: 'APIVersions' }],
};

const meta = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const ref = (n: string): SchemaNode => ({ $ref: `#/components/schemas/${n}` });
const typeMetaProps = (what: string): Record<string, SchemaNode> => ({
  apiVersion: { description: 'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources', type: 'string' },
  kind: { description: 'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds', type: 'string' },
  metadata: { description: what, ...ref(`${meta}.${what.startsWith('Standard list') ? 'ListMeta' : 'ObjectMeta'}`) },
});

/** meta.k8s.io/v1 types kubernetes-types does not declare (server-side printing). */
export const extraDefinitions: Record<string, SchemaNode> = {
  [`${meta}.Table`]: {
    description: 'Table is a tabular representation of a set of API resources. The server transforms the object into a set of preferred columns for quickly reviewing the objects.',
    type: 'object',
    properties: {
      ...typeMetaProps('Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds'),
      columnDefinitions: { description: 'columnDefinitions describes each column in the returned items array. The number of cells per row will always match the number of column definitions.', type: 'array', items: ref(`${meta}.TableColumnDefinition`), 'x-kubernetes-list-type': 'atomic' },
      rows: { description: 'rows is the list of items in the table.', type: 'array', items: ref(`${meta}.TableRow`), 'x-kubernetes-list-type': 'atomic' },
    },
    required: ['columnDefinitions', 'rows'],
    'x-kubernetes-group-version-kind': [{ group: 'meta.k8s.io', version: 'v1', kind: 'Table' }],
  },
  [`${meta}.TableColumnDefinition`]: {
    description: 'TableColumnDefinition contains information about a column returned in the Table.',
    type: 'object',
    properties: {
      description: { description: 'description is a human readable description of this column.', type: 'string' },
      format: { description: "format is an optional OpenAPI type modifier for this column. A format modifies the type and imposes additional rules, like date or time formatting for a string. The 'name' format is applied to the primary identifier column which has type 'string' to assist in clients identifying column is the resource name. See https://github.com/OAI/OpenAPI-Specification/blob/master/versions/2.0.md#data-types for more.", type: 'string' },
      name: { description: 'name is a human readable name for the column.', type: 'string' },
      priority: { description: 'priority is an integer defining the relative importance of this column compared to others. Lower numbers are considered higher priority. Columns that may be omitted in limited space scenarios should be given a higher priority.', type: 'integer', format: 'int32' },
      type: { description: 'type is an OpenAPI type definition for this column, such as number, integer, string, or array. See https://github.com/OAI/OpenAPI-Specification/blob/master/versions/2.0.md#data-types for more.', type: 'string' },
    },
    required: ['name', 'type', 'format', 'description', 'priority'],
  },
  [`${meta}.TableRow`]: {
    description: 'TableRow is an individual row in a table.',
    type: 'object',
    properties: {
      cells: { description: 'cells will be as wide as the column definitions array and may contain strings, numbers (float64 or int64), booleans, simple maps, lists, or null. See the type field of the column definition for a more detailed description.', type: 'array', items: { type: 'object' }, 'x-kubernetes-list-type': 'atomic' },
      conditions: { description: 'conditions describe additional status of a row that are relevant for a human user. These conditions apply to the row, not to the object, and will be specific to table output. The only defined condition type is \'Completed\', for a row that indicates a resource that has run to completion and can be given less visual priority.', type: 'array', items: ref(`${meta}.TableRowCondition`), 'x-kubernetes-list-type': 'atomic' },
      object: { description: 'This field contains the requested additional information about each object based on the includeObject policy when requesting the Table. If "None", this field is empty, if "Object" this will be the default serialization of the object for the current API version, and if "Metadata" (the default) will contain the object metadata. Check the returned kind and apiVersion of the object before parsing. The media type of the object will always match the enclosing list - if this as a JSON table, these will be JSON encoded objects.', ...ref('io.k8s.apimachinery.pkg.runtime.RawExtension') },
    },
    required: ['cells'],
  },
  [`${meta}.TableRowCondition`]: {
    description: 'TableRowCondition allows a row to be marked with additional information.',
    type: 'object',
    properties: {
      message: { description: 'Human readable message indicating details about last transition.', type: 'string' },
      reason: { description: "(brief) machine readable reason for the condition's last transition.", type: 'string' },
      status: { description: 'Status of the condition, one of True, False, Unknown.', type: 'string' },
      type: { description: 'Type of row condition. The only defined value is \'Completed\' indicating that the object this row represents has reached a completed state and may be given less visual priority than other rows. Clients are not required to honor any conditions but should be consistent where possible about handling the conditions.', type: 'string' },
    },
    required: ['type', 'status'],
  },
  [`${meta}.PartialObjectMetadata`]: {
    description: 'PartialObjectMetadata is a generic representation of any object with ObjectMeta. It allows clients to get access to a particular ObjectMeta schema without knowing the details of the version.',
    type: 'object',
    properties: typeMetaProps('Standard object\'s metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata'),
    'x-kubernetes-group-version-kind': [{ group: 'meta.k8s.io', version: 'v1', kind: 'PartialObjectMetadata' }],
  },
  [`${meta}.PartialObjectMetadataList`]: {
    description: 'PartialObjectMetadataList contains a list of objects containing only their metadata',
    type: 'object',
    properties: {
      ...typeMetaProps('Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds'),
      items: { description: 'items contains each of the included items.', type: 'array', items: ref(`${meta}.PartialObjectMetadata`) },
    },
    required: ['items'],
    'x-kubernetes-group-version-kind': [{ group: 'meta.k8s.io', version: 'v1', kind: 'PartialObjectMetadataList' }],
  },
};
