// The built-in API resources: one row each. The API server's registry
// (src/apiserver/) adds behaviour to these rows; clients (src/client/) use them to
// build request paths. Adding a resource starts here.

export interface ResourceInfo {
  /** API group; '' for the core group. */
  group: string;
  version: string;
  kind: string;
  /** Plural, lower case: the path segment. */
  resource: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  /** Subresources served under /<resource>/<name>/<sub>. */
  subresources: string[];
  /** Verbs when not the usual eight (verbsOf): namespaces have no deletecollection upstream. */
  verbs?: readonly string[];
  /** Key prefix under the datastore root, as kube-apiserver lays out etcd (e.g. 'minions' for nodes). */
  storagePrefix: string;
  /** Objects expire this many seconds after their last write (Events). */
  ttlSeconds?: number;
  /**
   * Not stored: a create-only resource answered by a handler of its own (the access and
   * identity reviews of authorization.k8s.io and authentication.k8s.io). No list, watch
   * or storage; storagePrefix is ''.
   */
  virtual?: true;
}

const all = ['all'];

export const builtinResources: readonly ResourceInfo[] = [
  // core/v1
  { group: '', version: 'v1', kind: 'Namespace', resource: 'namespaces', singular: 'namespace', namespaced: false, shortNames: ['ns'], subresources: ['status', 'finalize'], storagePrefix: 'namespaces',
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] },
  { group: '', version: 'v1', kind: 'Pod', resource: 'pods', singular: 'pod', namespaced: true, shortNames: ['po'], categories: all, subresources: ['status', 'binding', 'eviction', 'log', 'exec', 'attach', 'portforward', 'proxy', 'ephemeralcontainers'], storagePrefix: 'pods' },
  { group: '', version: 'v1', kind: 'Service', resource: 'services', singular: 'service', namespaced: true, shortNames: ['svc'], categories: all, subresources: ['status', 'proxy'], storagePrefix: 'services/specs' },
  { group: '', version: 'v1', kind: 'ConfigMap', resource: 'configmaps', singular: 'configmap', namespaced: true, shortNames: ['cm'], subresources: [], storagePrefix: 'configmaps' },
  { group: '', version: 'v1', kind: 'Secret', resource: 'secrets', singular: 'secret', namespaced: true, subresources: [], storagePrefix: 'secrets' },
  { group: '', version: 'v1', kind: 'Endpoints', resource: 'endpoints', singular: 'endpoints', namespaced: true, shortNames: ['ep'], subresources: [], storagePrefix: 'services/endpoints' },
  { group: '', version: 'v1', kind: 'Node', resource: 'nodes', singular: 'node', namespaced: false, shortNames: ['no'], subresources: ['status', 'proxy'], storagePrefix: 'minions' },
  { group: '', version: 'v1', kind: 'Event', resource: 'events', singular: 'event', namespaced: true, shortNames: ['ev'], subresources: [], storagePrefix: 'events', ttlSeconds: 3600 },
  { group: '', version: 'v1', kind: 'ServiceAccount', resource: 'serviceaccounts', singular: 'serviceaccount', namespaced: true, shortNames: ['sa'], subresources: ['token'], storagePrefix: 'serviceaccounts' },
  // apps/v1
  { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments', singular: 'deployment', namespaced: true, shortNames: ['deploy'], categories: all, subresources: ['status', 'scale'], storagePrefix: 'deployments' },
  { group: 'apps', version: 'v1', kind: 'ReplicaSet', resource: 'replicasets', singular: 'replicaset', namespaced: true, shortNames: ['rs'], categories: all, subresources: ['status', 'scale'], storagePrefix: 'replicasets' },
  // batch/v1
  { group: 'batch', version: 'v1', kind: 'Job', resource: 'jobs', singular: 'job', namespaced: true, categories: all, subresources: ['status'], storagePrefix: 'jobs' },
  { group: 'batch', version: 'v1', kind: 'CronJob', resource: 'cronjobs', singular: 'cronjob', namespaced: true, shortNames: ['cj'], categories: all, subresources: ['status'], storagePrefix: 'cronjobs' },
  // networking.k8s.io/v1
  { group: 'networking.k8s.io', version: 'v1', kind: 'Ingress', resource: 'ingresses', singular: 'ingress', namespaced: true, shortNames: ['ing'], subresources: ['status'], storagePrefix: 'ingress' },
  { group: 'networking.k8s.io', version: 'v1', kind: 'IngressClass', resource: 'ingressclasses', singular: 'ingressclass', namespaced: false, subresources: [], storagePrefix: 'ingressclasses' },
  // discovery.k8s.io/v1
  { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', resource: 'endpointslices', singular: 'endpointslice', namespaced: true, subresources: [], storagePrefix: 'endpointslices' },
  // coordination.k8s.io/v1
  { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', resource: 'leases', singular: 'lease', namespaced: true, subresources: [], storagePrefix: 'leases' },
  // events.k8s.io/v1 shares storage with core/v1 events, as upstream.
  { group: 'events.k8s.io', version: 'v1', kind: 'Event', resource: 'events', singular: 'event', namespaced: true, shortNames: ['ev'], subresources: [], storagePrefix: 'events', ttlSeconds: 3600 },
  // authentication.k8s.io/v1 (serviceaccounts/token answers TokenRequests)
  { group: 'authentication.k8s.io', version: 'v1', kind: 'SelfSubjectReview', resource: 'selfsubjectreviews', singular: 'selfsubjectreview', namespaced: false, subresources: [], storagePrefix: '', virtual: true },
  // authorization.k8s.io/v1
  { group: 'authorization.k8s.io', version: 'v1', kind: 'LocalSubjectAccessReview', resource: 'localsubjectaccessreviews', singular: 'localsubjectaccessreview', namespaced: true, subresources: [], storagePrefix: '', virtual: true },
  { group: 'authorization.k8s.io', version: 'v1', kind: 'SelfSubjectAccessReview', resource: 'selfsubjectaccessreviews', singular: 'selfsubjectaccessreview', namespaced: false, subresources: [], storagePrefix: '', virtual: true },
  { group: 'authorization.k8s.io', version: 'v1', kind: 'SelfSubjectRulesReview', resource: 'selfsubjectrulesreviews', singular: 'selfsubjectrulesreview', namespaced: false, subresources: [], storagePrefix: '', virtual: true },
  { group: 'authorization.k8s.io', version: 'v1', kind: 'SubjectAccessReview', resource: 'subjectaccessreviews', singular: 'subjectaccessreview', namespaced: false, subresources: [], storagePrefix: '', virtual: true },
  // rbac.authorization.k8s.io/v1
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', resource: 'clusterrolebindings', singular: 'clusterrolebinding', namespaced: false, subresources: [], storagePrefix: 'clusterrolebindings' },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', resource: 'clusterroles', singular: 'clusterrole', namespaced: false, subresources: [], storagePrefix: 'clusterroles' },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', resource: 'rolebindings', singular: 'rolebinding', namespaced: true, subresources: [], storagePrefix: 'rolebindings' },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', resource: 'roles', singular: 'role', namespaced: true, subresources: [], storagePrefix: 'roles' },
];

const storedVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;
const createOnly = ['create'] as const;

/** The verbs a resource serves (discovery, OpenAPI, and the 405 for any other). */
export function verbsOf(r: ResourceInfo): readonly string[] {
  return r.verbs ?? (r.virtual ? createOnly : storedVerbs);
}

/** Resources with storage (list, watch, get...): every built-in one but the create-only reviews. */
export const storedResources: readonly ResourceInfo[] = builtinResources.filter((r) => !r.virtual);

export function apiVersionOf(r: Pick<ResourceInfo, 'group' | 'version'>): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** Find a built-in resource by group and plural name. */
export function findResource(group: string, resource: string): ResourceInfo | undefined {
  return builtinResources.find((r) => r.group === group && r.resource === resource);
}

/** Find a built-in resource by apiVersion and kind. */
export function findKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return builtinResources.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
}

/** Typed shortcuts for the resources components use most. */
export const R = {
  namespaces: findResource('', 'namespaces')!,
  pods: findResource('', 'pods')!,
  services: findResource('', 'services')!,
  configmaps: findResource('', 'configmaps')!,
  secrets: findResource('', 'secrets')!,
  endpoints: findResource('', 'endpoints')!,
  nodes: findResource('', 'nodes')!,
  events: findResource('', 'events')!,
  serviceaccounts: findResource('', 'serviceaccounts')!,
  deployments: findResource('apps', 'deployments')!,
  replicasets: findResource('apps', 'replicasets')!,
  jobs: findResource('batch', 'jobs')!,
  cronjobs: findResource('batch', 'cronjobs')!,
  ingresses: findResource('networking.k8s.io', 'ingresses')!,
  ingressclasses: findResource('networking.k8s.io', 'ingressclasses')!,
  endpointslices: findResource('discovery.k8s.io', 'endpointslices')!,
  leases: findResource('coordination.k8s.io', 'leases')!,
  roles: findResource('rbac.authorization.k8s.io', 'roles')!,
  rolebindings: findResource('rbac.authorization.k8s.io', 'rolebindings')!,
  clusterroles: findResource('rbac.authorization.k8s.io', 'clusterroles')!,
  clusterrolebindings: findResource('rbac.authorization.k8s.io', 'clusterrolebindings')!,
} as const;
