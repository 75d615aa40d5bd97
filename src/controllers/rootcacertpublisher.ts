// The root CA publisher (upstream pkg/controller/certificates/rootcacertpublisher): every
// namespace holds a ConfigMap `kube-root-ca.crt` whose `ca.crt` is the CA the API server
// serves with, so that pods verify it (their kube-api-access volume projects the key).
// It is created with each namespace, recreated when deleted and put back when changed.
import type { ConfigMap, Namespace } from 'kubernetes-types/core/v1.js';
import { R } from '../api/resources.js';
import { ROOT_CA_CONFIGMAP_NAME } from '../api/pods.js';
import { isStatusError } from '../api/errors.js';
import { queueController, type Controller, type ControllerContext, type SyncResult } from './base.js';

export const DESCRIPTION_ANNOTATION = 'kubernetes.io/description';
export const DESCRIPTION = 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';

/** What the ConfigMap must say: the CA, and the annotation describing it. */
export function desiredRootCAConfigMap(rootCA: string, current?: ConfigMap): ConfigMap | undefined {
  const data = { 'ca.crt': rootCA };
  if (current) {
    const same = Object.keys(current.data ?? {}).length === 1 && current.data?.['ca.crt'] === rootCA;
    if (same && current.metadata?.annotations?.[DESCRIPTION_ANNOTATION]) return undefined;
    // Everything else the object carries (labels, other annotations, binaryData) stays.
    return { ...current, data, metadata: { ...current.metadata, annotations: { ...(current.metadata?.annotations ?? {}), [DESCRIPTION_ANNOTATION]: DESCRIPTION } } };
  }
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ROOT_CA_CONFIGMAP_NAME, annotations: { [DESCRIPTION_ANNOTATION]: DESCRIPTION } }, data };
}

export function startRootCACertPublisher(ctx: ControllerContext): Controller {
  const name = 'root-ca-cert-publisher';
  const log = ctx.log.child({ controller: name });
  const rootCA = ctx.options.rootCA;
  const queue = ctx.newQueue(name);
  if (!rootCA) {
    // Upstream refuses to start without --root-ca-file or a CA in its kubeconfig.
    log.warn('no root CA (--root-ca-file, or the kubeconfig\'s certificate-authority): kube-root-ca.crt ConfigMaps are not published');
    return queueController(name, ctx, queue, log, async () => undefined);
  }
  const nsInf = ctx.informers.informer<Namespace>(R.namespaces);
  // Only the one ConfigMap per namespace matters: watched by name, not every ConfigMap.
  const cmInf = ctx.informers.informer<ConfigMap>(R.configmaps, { fieldSelector: `metadata.name=${ROOT_CA_CONFIGMAP_NAME}` });
  const client = ctx.client.resource<ConfigMap>(R.configmaps);
  nsInf.addEventHandler({
    onAdd: (n) => queue.add(n.metadata!.name!),
    onUpdate: (_o, n) => { if (n.status?.phase === 'Active') queue.add(n.metadata!.name!); },
  });
  cmInf.addEventHandler({
    onUpdate: (_o, cm) => queue.add(cm.metadata!.namespace!),
    onDelete: (cm) => queue.add(cm.metadata!.namespace!),
  });

  async function sync(ns: string): Promise<SyncResult> {
    const current = cmInf.store.get(`${ns}/${ROOT_CA_CONFIGMAP_NAME}`);
    const want = desiredRootCAConfigMap(rootCA!, current);
    if (!want) return;
    try {
      if (current) await client.update(want, { namespace: ns });
      else await client.create(want, { namespace: ns });
    } catch (e) {
      // A namespace gone or terminating gets nothing; a conflict or a create racing the cache is retried.
      if (isStatusError(e, 'NotFound') || (isStatusError(e, 'Forbidden') && e.message.includes('because it is being terminated'))) return;
      throw e;
    }
    return;
  }

  return queueController(name, ctx, queue, log, sync);
}
