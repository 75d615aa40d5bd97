// The NodeRestriction admission plugin (upstream plugin/pkg/admission/noderestriction),
// the parts that apply to this server's resources: a node may only change its own Node
// (not its taints, nor labels outside the kubelet's set), its own Lease, and pods bound
// to it (their status, their deletion or eviction); it may create only mirror pods of
// its own that reference nothing, and request service-account tokens only bound to a
// pod it runs. The Node authorizer lets these requests through by kind; this checks
// the objects.
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import type { TokenRequest } from 'kubernetes-types/authentication/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { MIRROR_POD_ANNOTATION, visitPodConfigMapNames, visitPodSecretNames } from '../../api/pods.js';
import { deepEqual, type Obj } from '../objects.js';
import type { ResourceStore, WriteHook } from '../store.js';
import { admissionForbidden, type AdmissionOp } from '../admission/forbidden.js';
import { NODE_LEASE_NAMESPACE, nodeIdentity } from './authorizer.js';

type Op = AdmissionOp;

/** Labels a kubelet may set on its own Node (k8s.io/kubelet/pkg/apis well_known_labels). */
const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'topology.kubernetes.io/zone', 'topology.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone', 'failure-domain.beta.kubernetes.io/region',
  'node.kubernetes.io/instance-type', 'beta.kubernetes.io/instance-type',
  'kubernetes.io/os', 'kubernetes.io/arch', 'beta.kubernetes.io/os', 'beta.kubernetes.io/arch',
]);
const KUBELET_LABEL_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io'];
/** Labels only the cluster's administrators may set, to steer workloads to nodes they trust. */
const NODE_RESTRICTION_NAMESPACE = 'node-restriction.kubernetes.io';

const labelNamespace = (key: string): string => { const i = key.indexOf('/'); return i < 0 ? '' : key.slice(0, i); };
const inNamespace = (ns: string, domain: string): boolean => ns === domain || ns.endsWith(`.${domain}`);

function isKubeletLabel(key: string): boolean {
  if (KUBELET_LABELS.has(key)) return true;
  const ns = labelNamespace(key);
  return KUBELET_LABEL_NAMESPACES.some((d) => inNamespace(ns, d));
}

/** Label keys a node may not add, remove or change on itself (upstream getForbiddenLabels), sorted. */
export function forbiddenNodeLabels(now: Record<string, string> | undefined, before: Record<string, string> | undefined): string[] {
  const a = now ?? {}, b = before ?? {};
  const modified = new Set<string>();
  for (const [k, v] of Object.entries(a)) if (b[k] !== v) modified.add(k);
  for (const [k, v] of Object.entries(b)) if (a[k] !== v) modified.add(k);
  const out: string[] = [];
  for (const k of modified) {
    const ns = labelNamespace(k);
    const kubernetesLabel = inNamespace(ns, 'kubernetes.io') || inNamespace(ns, 'k8s.io');
    if (inNamespace(ns, NODE_RESTRICTION_NAMESPACE) || (kubernetesLabel && !isKubeletLabel(k))) out.push(k);
  }
  return out.sort();
}

/** Semantic equality as upstream compares lists: absent and empty are the same. */
const sameList = (a: unknown[] | undefined, b: unknown[] | undefined): boolean => (!a?.length && !b?.length) || deepEqual(a, b);

const forbidden = admissionForbidden;

/** The current pod or node; throws NotFound as the store does. */
export type CurrentObject = (resource: 'pods' | 'nodes', namespace: string, name: string) => Promise<Obj>;

export function nodeRestriction(current: CurrentObject): WriteHook {
  const admitPodCreate = async (node: string, store: ResourceStore, pod: Pod): Promise<void> => {
    const no = (why: string): Error => forbidden(store, 'CREATE', pod as Obj, why);
    if (pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] === undefined) throw no(`pod does not have "${MIRROR_POD_ANNOTATION}" annotation, node "${node}" can only create mirror pods`);
    if (pod.spec?.nodeName !== node) throw no(`node "${node}" can only create pods with spec.nodeName set to itself`);
    const owners = pod.metadata?.ownerReferences ?? [];
    if (owners.length > 1) throw no(`node "${node}" can only create pods with a single owner reference set to itself`);
    if (owners.length === 0) throw no(`node "${node}" can only create pods with an owner reference set to itself`);
    const owner = owners[0]!;
    if (owner.apiVersion !== 'v1' || owner.kind !== 'Node' || owner.name !== node) throw no(`node "${node}" can only create pods with an owner reference set to itself`);
    if (!owner.controller) throw no(`node "${node}" can only create pods with a controller owner reference set to itself`);
    if (owner.blockOwnerDeletion) throw no(`node "${node}" must not set blockOwnerDeletion on an owner reference`);
    const self = await current('nodes', '', node);
    if (owner.uid !== self.metadata?.uid) throw no(`node ${node} UID mismatch: expected ${owner.uid} got ${self.metadata?.uid}`);
    // A pod the node creates must not open other objects to it.
    if (pod.spec?.serviceAccountName) throw no(`node "${node}" can not create pods that reference a service account`);
    if (!visitPodSecretNames(pod, () => false)) throw no(`node "${node}" can not create pods that reference secrets`);
    if (!visitPodConfigMapNames(pod, () => false)) throw no(`node "${node}" can not create pods that reference configmaps`);
    for (const v of pod.spec?.volumes ?? []) {
      if (v.projected?.sources?.some((s) => (s as { clusterTrustBundle?: unknown }).clusterTrustBundle)) throw no(`node "${node}" can not create pods that reference clustertrustbundles`);
    }
    if (pod.spec?.volumes?.some((v) => v.persistentVolumeClaim)) throw no(`node "${node}" can not create pods that reference persistentvolumeclaims`);
  };

  const admitPod = async (node: string, op: Op, store: ResourceStore, obj: Obj, old: Obj | undefined, subresource: string): Promise<void> => {
    const no = (why: string): Error => forbidden(store, op, obj, why);
    switch (subresource) {
      case '':
        if (op === 'CREATE') return admitPodCreate(node, store, obj as Pod);
        if (op === 'DELETE') {
          if ((old as Pod | undefined)?.spec?.nodeName !== node) throw no(`node "${node}" can only delete pods with spec.nodeName set to itself`);
          return;
        }
        throw no(`unexpected operation "${op}", node "${node}" can only create and delete mirror pods`);
      case 'status':
        if (op !== 'UPDATE') throw no(`unexpected operation "${op}"`);
        if ((old as Pod | undefined)?.spec?.nodeName !== node) throw no(`node "${node}" can only update pod status for pods with spec.nodeName set to itself`);
        if (!deepEqual(obj.metadata?.labels ?? {}, old?.metadata?.labels ?? {})) throw no(`node "${node}" cannot update labels through pod status`);
        return;
      case 'eviction':
        // The eviction handler deletes the pod it names: the pod is the current one.
        if ((old as Pod | undefined)?.spec?.nodeName !== node) throw no(`node ${node} can only evict pods with spec.nodeName set to itself`);
        return;
      default:
        throw no(`unexpected pod subresource "${subresource}", only 'status' and 'eviction' are allowed`);
    }
  };

  const admitNode = (node: string, op: Op, store: ResourceStore, obj: Obj, old: Obj | undefined): void => {
    const no = (why: string): Error => forbidden(store, op, obj, why);
    const requested = (op === 'CREATE' ? obj : old)?.metadata?.name;
    if (requested !== node) throw no(`node "${node}" is not allowed to modify node "${requested}"`);
    const n = obj as Node & { spec?: { configSource?: unknown } };
    if (op === 'CREATE') {
      if (n.spec?.configSource) throw no(`node "${node}" is not allowed to create pods with a non-nil configSource`);
      const labels = forbiddenNodeLabels(n.metadata?.labels, undefined);
      if (labels.length) throw no(`node "${node}" is not allowed to set the following labels: ${labels.join(', ')}`);
    } else if (op === 'UPDATE') {
      const o = old as Node & { spec?: { configSource?: unknown } };
      if (n.spec?.configSource && !deepEqual(n.spec.configSource, o.spec?.configSource)) throw no(`node "${node}" is not allowed to update configSource to a new non-nil configSource`);
      if (!sameList(n.spec?.taints, o.spec?.taints)) throw no(`node "${node}" is not allowed to modify taints`);
      const labels = forbiddenNodeLabels(n.metadata?.labels, o.metadata?.labels);
      if (labels.length) throw no(`is not allowed to modify labels: ${labels.join(', ')}`);
    }
  };

  const admitTokenRequest = async (node: string, store: ResourceStore, tr: TokenRequest, namespace: string): Promise<void> => {
    const no = (why: string): Error => forbidden(store, 'CREATE', tr as Obj, why);
    const ref = tr.spec?.boundObjectRef;
    if (!ref || ref.apiVersion !== 'v1' || ref.kind !== 'Pod' || !ref.name) throw no('node requested token not bound to a pod');
    if (!ref.uid) throw no('node requested token with a pod binding without a uid');
    const pod = await current('pods', namespace, ref.name) as Pod;
    if (ref.uid !== pod.metadata?.uid) throw no(`the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`);
    if (pod.spec?.nodeName !== node) throw no('node requested token bound to a pod scheduled on a different node');
  };

  const admitLease = (node: string, op: Op, store: ResourceStore, obj: Obj, old: Obj | undefined): void => {
    const no = (why: string): Error => forbidden(store, op, obj, why);
    const lease = (op === 'CREATE' ? obj : old) as Lease | undefined;
    if (lease?.metadata?.namespace !== NODE_LEASE_NAMESPACE) throw no(`can only access leases in the "${NODE_LEASE_NAMESPACE}" system namespace`);
    if (lease.metadata?.name !== node) throw no('can only access node lease with the same name as the requesting node');
  };

  return async (op, store, obj, old, ctx) => {
    const node = nodeIdentity(ctx.user);
    if (node === undefined) return;
    if (!node) throw forbidden(store, op, obj, `could not determine node from user "${ctx.user.name}"`);
    const { group, resource } = store.info;
    if (group === '') {
      switch (resource) {
        case 'pods': return admitPod(node, op, store, obj, old, ctx.subresource);
        case 'nodes': return admitNode(node, op, store, obj, old);
        case 'serviceaccounts':
          // The token handler passes the TokenRequest with the request's namespace filled in.
          if (op === 'CREATE' && ctx.subresource === 'token') return admitTokenRequest(node, store, obj as TokenRequest, String(obj.metadata?.namespace ?? ''));
          return;
      }
    } else if (group === 'coordination.k8s.io' && resource === 'leases') {
      return admitLease(node, op, store, obj, old);
    }
  };
}
