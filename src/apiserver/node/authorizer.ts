// The Node authorizer (upstream plugin/pkg/auth/authorizer/node, with the
// AuthorizeNodeWithSelectors behaviour on, as in 1.32): requests of kubelets
// (system:node:NAME in group system:nodes) to secrets, configmaps and service-account
// tokens are allowed only for objects a pod bound to that node references (the graph);
// its own Node and Lease by name; pods it runs, listed with spec.nodeName=NAME; all
// other requests against the static node rules (the system:node role's rules). It
// never denies: what it does not allow goes on to RBAC with its reason, as upstream.
import type { Attributes, Authorizer, Decision, UserInfo } from '../auth.js';
import { compileRule, ruleAllows, type CompiledRule } from '../rbac/rules.js';
import { nodeRules } from '../rbac/bootstrap-policy.js';
import { parseFieldSelector } from '../../api/fields.js';
import type { NodeGraph, VertexType } from './graph.js';

export const NODES_GROUP = 'system:nodes';
const NODE_USER_PREFIX = 'system:node:';
/** Where node Leases live (upstream NamespaceNodeLease). */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/**
 * upstream's default NodeIdentifier: the node's name when the user is a node
 * (system:node:NAME and in system:nodes), '' for a node whose name is empty, undefined
 * for anyone else.
 */
export function nodeIdentity(user: UserInfo): string | undefined {
  if (!user.name.startsWith(NODE_USER_PREFIX) || !user.groups.includes(NODES_GROUP)) return undefined;
  return user.name.slice(NODE_USER_PREFIX.length);
}

type ResourceAttributes = Extract<Attributes, { isResourceRequest: true }>;

const ALLOW: Decision = { allowed: true };
const NO_OPINION: Decision = { allowed: false };
const noOpinion = (reason: string): Decision => ({ allowed: false, reason });

/** The value a `field=value` term of the request's field selector requires, if any. */
function selectedValue(a: ResourceAttributes, field: string): string | undefined {
  if (!a.fieldSelector) return undefined;
  try {
    return parseFieldSelector(a.fieldSelector).exactValue(field);
  } catch {
    return undefined;
  }
}

export function nodeAuthorizer(graph: NodeGraph, rules: CompiledRule[] = nodeRules().map((r) => compileRule(r, 'node authorizer'))): Authorizer {
  const related = (node: string, type: VertexType, a: ResourceAttributes): Decision => {
    if (!a.name) return noOpinion('No Object name found');
    return graph.reaches(node, type, a.namespace, a.name) ? ALLOW : noOpinion(`no relationship found between node '${node}' and this object`);
  };
  const unrelated = (node: string): Decision => noOpinion(`no relationship found between node '${node}' and this object`);

  // get, list, watch of one object a pod bound to the node references.
  const readNamespacedObject = (node: string, type: VertexType, a: ResourceAttributes): Decision => {
    if (a.verb !== 'get' && a.verb !== 'list' && a.verb !== 'watch') return noOpinion('can only read resources of this type');
    if (a.subresource) return noOpinion('cannot read subresource');
    if (!a.namespace) return noOpinion('can only read namespaced object of this type');
    return related(node, type, a);
  };

  // Objects that only a graph edge would open, and that this server keeps no edges for
  // (persistent volumes and their claims, volume attachments): a get is never related.
  const getUnrelated = (node: string, a: ResourceAttributes): Decision => {
    if (a.verb !== 'get') return noOpinion('can only get individual resources of this type');
    if (a.subresource) return noOpinion('cannot get subresource');
    return a.name ? unrelated(node) : noOpinion('No Object name found');
  };

  const createToken = (node: string, a: ResourceAttributes): Decision => {
    if (a.verb !== 'create' || !a.name) return noOpinion('can only create tokens for individual service accounts');
    if (a.subresource !== 'token') return noOpinion('can only create token subresource of serviceaccount');
    return graph.reaches(node, 'serviceaccount', a.namespace, a.name) ? ALLOW : unrelated(node);
  };

  const lease = (node: string, a: ResourceAttributes): Decision => {
    if (!['get', 'create', 'update', 'patch', 'delete'].includes(a.verb)) return noOpinion('can only get, create, update, patch, or delete a node lease');
    if (a.namespace !== NODE_LEASE_NAMESPACE) return noOpinion(`can only access leases in the "${NODE_LEASE_NAMESPACE}" system namespace`);
    // A create has no name yet: NodeRestriction checks the object's.
    if (a.verb !== 'create' && a.name !== node) return noOpinion('can only access node lease with the same name as the requesting node');
    return ALLOW;
  };

  const csiNode = (node: string, a: ResourceAttributes): Decision => {
    if (!['get', 'create', 'update', 'patch', 'delete'].includes(a.verb)) return noOpinion('can only get, create, update, patch, or delete a CSINode');
    if (a.subresource) return noOpinion('cannot authorize CSINode subresources');
    if (a.verb !== 'create' && a.name !== node) return noOpinion('can only access CSINode with the same name as the requesting node');
    return ALLOW;
  };

  const nodeObject = (node: string, a: ResourceAttributes): Decision => {
    if (!a.subresource) {
      // Which Node it creates or changes is NodeRestriction's to check.
      if (a.verb === 'create' || a.verb === 'update' || a.verb === 'patch') return ALLOW;
      if (a.verb === 'get' || a.verb === 'list' || a.verb === 'watch') {
        // By name rather than through the graph: a kubelet reads its Node before creating it.
        if (a.name === node) return ALLOW;
        return noOpinion(a.name ? `node '${node}' cannot read '${a.name}', only its own Node object` : `node '${node}' cannot read all nodes, only its own Node object`);
      }
    } else if (a.subresource === 'status' && (a.verb === 'update' || a.verb === 'patch')) {
      return ALLOW;
    }
    return NO_OPINION;
  };

  // A pod is related to the node it is bound to.
  const podOfNode = (node: string, a: ResourceAttributes): Decision => {
    if (!a.name) return noOpinion('No Object name found');
    return graph.podNode(a.namespace, a.name) === node ? ALLOW : unrelated(node);
  };

  const pod = (node: string, a: ResourceAttributes): Decision => {
    switch (a.subresource) {
      case '':
        if (a.verb === 'get') return podOfNode(node, a);
        if (a.verb === 'list' || a.verb === 'watch') {
          if (selectedValue(a, 'spec.nodeName') === node) return ALLOW;
          if (a.name) return podOfNode(node, a);
          return noOpinion('can only list/watch pods with spec.nodeName field selector');
        }
        // Mirror pods: NodeRestriction limits them to pods bound to the node.
        if (a.verb === 'create' || a.verb === 'delete') return ALLOW;
        break;
      case 'status':
        if (a.verb === 'update' || a.verb === 'patch') return ALLOW;
        break;
      case 'eviction':
        if (a.verb === 'create') return ALLOW;
        break;
    }
    return NO_OPINION;
  };

  return (user, attrs) => {
    const node = nodeIdentity(user);
    if (node === undefined) return NO_OPINION;
    if (!node) return noOpinion(`unknown node for user "${user.name}"`);
    if (attrs.isResourceRequest) {
      if (attrs.group === '') {
        switch (attrs.resource) {
          case 'secrets': return readNamespacedObject(node, 'secret', attrs);
          case 'configmaps': return readNamespacedObject(node, 'configmap', attrs);
          case 'serviceaccounts': return createToken(node, attrs);
          case 'nodes': return nodeObject(node, attrs);
          case 'pods': return pod(node, attrs);
          case 'persistentvolumeclaims':
            if (attrs.subresource === 'status') {
              if (attrs.verb !== 'update' && attrs.verb !== 'patch') return noOpinion('can only get/update/patch this type');
              return attrs.name ? unrelated(node) : noOpinion('No Object name found');
            }
            return getUnrelated(node, attrs);
          case 'persistentvolumes': return getUnrelated(node, attrs);
        }
      } else if (attrs.group === 'coordination.k8s.io' && attrs.resource === 'leases') {
        return lease(node, attrs);
      } else if (attrs.group === 'storage.k8s.io') {
        if (attrs.resource === 'volumeattachments') return getUnrelated(node, attrs);
        if (attrs.resource === 'csinodes') return csiNode(node, attrs);
      }
    }
    for (const r of rules) if (ruleAllows(r, attrs)) return ALLOW;
    return NO_OPINION;
  };
}
