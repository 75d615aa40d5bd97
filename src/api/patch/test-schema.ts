// A small inline schema with the same shape and extensions as upstream's OpenAPI
// v3 for Pods and Deployments, for patch and apply tests.
import type { SchemaNode } from '../openapi/types.js';

const R = (n: string): SchemaNode => ({ $ref: `#/components/schemas/${n}` });
const str: SchemaNode = { type: 'string' };
const int: SchemaNode = { type: 'integer' };
const strMap: SchemaNode = { type: 'object', additionalProperties: str };

export const defs: Record<string, SchemaNode> = {
  ObjectMeta: { type: 'object', properties: {
    name: str, namespace: str, uid: str, resourceVersion: str, generation: int, creationTimestamp: str,
    labels: strMap, annotations: strMap,
    finalizers: { type: 'array', items: str, 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-list-type': 'set' },
    ownerReferences: { type: 'array', items: R('OwnerReference'), 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'uid', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['uid'] },
    managedFields: { type: 'array', items: { type: 'object' } },
  } },
  OwnerReference: { type: 'object', properties: { uid: str, name: str, kind: str, apiVersion: str } },
  Pod: { type: 'object', properties: { apiVersion: str, kind: str, metadata: { allOf: [R('ObjectMeta')], default: {} }, spec: { allOf: [R('PodSpec')], default: {} }, status: { type: 'object', properties: { phase: str, replicas: int } } } },
  PodSpec: { type: 'object', required: ['containers'], properties: {
    containers: { type: 'array', items: R('Container'), 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] },
    volumes: { type: 'array', items: R('Volume'), 'x-kubernetes-patch-strategy': 'merge,retainKeys', 'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] },
    nodeSelector: { ...strMap, 'x-kubernetes-map-type': 'atomic' },
    nodeName: str, restartPolicy: str, dnsPolicy: str,
    tolerations: { type: 'array', items: { type: 'object', properties: { key: str, operator: str, value: str, effect: str } }, 'x-kubernetes-list-type': 'atomic' },
  } },
  Container: { type: 'object', required: ['name'], properties: {
    name: str, image: str, imagePullPolicy: str,
    args: { type: 'array', items: str, 'x-kubernetes-list-type': 'atomic' },
    command: { type: 'array', items: str, 'x-kubernetes-list-type': 'atomic' },
    env: { type: 'array', items: R('EnvVar'), 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] },
    ports: { type: 'array', items: R('ContainerPort'), 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'containerPort', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['containerPort', 'protocol'] },
    resources: { type: 'object', properties: { limits: strMap, requests: strMap } },
  } },
  EnvVar: { type: 'object', properties: { name: str, value: str, valueFrom: { type: 'object', properties: { fieldRef: { type: 'object', properties: { fieldPath: str } } } } } },
  ContainerPort: { type: 'object', properties: { name: str, containerPort: int, protocol: { type: 'string', default: 'TCP' }, hostPort: int } },
  Volume: { type: 'object', properties: { name: str, emptyDir: { type: 'object', properties: { medium: str } }, configMap: { type: 'object', properties: { name: str } }, hostPath: { type: 'object', properties: { path: str } } } },
  Deployment: { type: 'object', properties: { apiVersion: str, kind: str, metadata: { allOf: [R('ObjectMeta')] }, spec: { allOf: [R('DeploymentSpec')] }, status: { type: 'object', properties: { phase: str, replicas: int } } } },
  DeploymentSpec: { type: 'object', required: ['selector', 'template'], properties: {
    replicas: int,
    selector: { type: 'object', properties: { matchLabels: strMap } , 'x-kubernetes-map-type': 'atomic' },
    template: { type: 'object', properties: { metadata: { allOf: [R('ObjectMeta')] }, spec: { allOf: [R('PodSpec')] } } },
    strategy: { allOf: [R('DeploymentStrategy')], 'x-kubernetes-patch-strategy': 'retainKeys' },
  } },
  DeploymentStrategy: { type: 'object', properties: { type: str, rollingUpdate: { type: 'object', properties: { maxSurge: str, maxUnavailable: str } } } },
};

export const resolve = (ref: string): SchemaNode | undefined => defs[ref.replace('#/components/schemas/', '')];
export const podSchema = defs.Pod!;
export const deploymentSchema = defs.Deployment!;
