// The ServiceAccount admission plugin (upstream plugin/pkg/admission/serviceaccount): on
// pod create, spec.serviceAccountName defaults to "default" and must name an existing
// ServiceAccount; unless the pod or the account opts out (automountServiceAccountToken:
// false), the pod gets the projected `kube-api-access-xxxxx` volume (a bound token, the
// cluster CA from the kube-root-ca.crt ConfigMap, the namespace) mounted read-only at
// /var/run/secrets/kubernetes.io/serviceaccount in every container; the account's
// imagePullSecrets are copied to a pod that has none. Mirror pods are left alone, and may
// reference neither service accounts nor secrets.
import type { Container, Pod, ProjectedVolumeSource, ServiceAccount, VolumeMount } from 'kubernetes-types/core/v1.js';
import { errors } from '../../api/errors.js';
import { deepFreeze } from '../../api/patch/schema-nav.js';
import { MIRROR_POD_ANNOTATION, ROOT_CA_CONFIGMAP_NAME, visitPodSecretNames } from '../../api/pods.js';
import { WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS } from '../serviceaccount-token.js';
import { randomNameSuffix, type ResourceStore, type WriteHook } from '../store.js';
import type { Obj } from '../objects.js';
import { admissionForbidden } from './forbidden.js';

export const PLUGIN_NAME = 'ServiceAccount';
export const DEFAULT_SERVICE_ACCOUNT_NAME = 'default';
export const DEFAULT_API_TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Volumes named `kube-api-access-<5 random characters>`. */
export const SERVICE_ACCOUNT_VOLUME_NAME = 'kube-api-access';
/** A ServiceAccount annotated "true" limits its pods to the secrets it lists. */
export const ENFORCE_MOUNTABLE_SECRETS_ANNOTATION = 'kubernetes.io/enforce-mountable-secrets';

/** The projected source of the token volume, every default spelled out (as upstream, #104464). */
export function tokenVolumeSource(): ProjectedVolumeSource {
  return {
    defaultMode: 0o644,
    sources: [
      { serviceAccountToken: { path: 'token', expirationSeconds: WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS } },
      { configMap: { name: ROOT_CA_CONFIGMAP_NAME, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ],
  };
}

/** The pod's automountServiceAccountToken wins, then the account's; true when neither says. */
export function shouldAutomount(sa: ServiceAccount, pod: Pod): boolean {
  const fromPod = pod.spec?.automountServiceAccountToken;
  if (fromPod !== undefined && fromPod !== null) return fromPod;
  const fromSA = sa.automountServiceAccountToken;
  if (fromSA !== undefined && fromSA !== null) return fromSA;
  return true;
}

/**
 * Adds the token volume and its mount to every init and app container that has nothing
 * mounted at the token path yet (an existing kube-api-access-* volume is reused). The volume
 * is added only when some container mounts it.
 */
export function mountServiceAccountToken(pod: Pod, generateName: (prefix: string) => string = (p) => `${p}${randomNameSuffix()}`): void {
  const spec = (pod.spec ??= { containers: [] });
  const existing = (spec.volumes ?? []).find((v) => v.name.startsWith(`${SERVICE_ACCOUNT_VOLUME_NAME}-`));
  const volumeName = existing?.name ?? generateName(`${SERVICE_ACCOUNT_VOLUME_NAME}-`);
  const mount: VolumeMount = { name: volumeName, readOnly: true, mountPath: DEFAULT_API_TOKEN_MOUNT_PATH };
  let needed = false;
  const addTo = (containers: Container[] | undefined): void => {
    for (const c of containers ?? []) {
      if ((c.volumeMounts ?? []).some((m) => m.mountPath === DEFAULT_API_TOKEN_MOUNT_PATH)) continue;
      c.volumeMounts = [...(c.volumeMounts ?? []), { ...mount }];
      needed = true;
    }
  };
  addTo(spec.initContainers);
  addTo(spec.containers);
  if (!existing && needed) spec.volumes = [...(spec.volumes ?? []), { name: volumeName, projected: tokenVolumeSource() }];
}

/** Copies the account's imagePullSecrets to a pod that names none. */
export function addImagePullSecrets(sa: ServiceAccount, pod: Pod): void {
  const spec = (pod.spec ??= { containers: [] });
  if (spec.imagePullSecrets?.length || !sa.imagePullSecrets?.length) return;
  spec.imagePullSecrets = sa.imagePullSecrets.map((r) => ({ name: r.name }));
}

/** Why a mirror pod is refused, if it is. */
export function mirrorPodViolation(pod: Pod): string | undefined {
  if (pod.spec?.serviceAccountName) return 'a mirror pod may not reference service accounts';
  if (!visitPodSecretNames(pod, () => false)) return 'a mirror pod may not reference secrets';
  for (const v of pod.spec?.volumes ?? []) {
    if (v.projected?.sources?.some((s) => s.serviceAccountToken)) return 'a mirror pod may not use ServiceAccountToken volume projections';
  }
  return undefined;
}

function enforcesMountableSecrets(sa: ServiceAccount): boolean {
  // Go's strconv.ParseBool: anything else is false.
  return ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(sa.metadata?.annotations?.[ENFORCE_MOUNTABLE_SECRETS_ANNOTATION] ?? '');
}

/** With the enforce-mountable-secrets annotation: why the pod uses a secret the account does not list, if it does. */
export function secretReferenceViolation(sa: ServiceAccount, pod: Pod): string | undefined {
  if (!enforcesMountableSecrets(sa)) return undefined;
  const saName = sa.metadata?.name;
  const mountable = new Set((sa.secrets ?? []).map((s) => s.name));
  for (const v of pod.spec?.volumes ?? []) {
    const name = v.secret?.secretName;
    if (v.secret && !mountable.has(name)) return `volume with secret.secretName="${name ?? ''}" is not allowed because service account ${saName} does not reference that secret`;
  }
  const check = (containers: Container[] | undefined, what: string): string | undefined => {
    for (const c of containers ?? []) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref && !mountable.has(ref.name)) return `${what} ${c.name} with envVar ${e.name} referencing secret.secretName="${ref.name ?? ''}" is not allowed because service account ${saName} does not reference that secret`;
      }
      for (const e of c.envFrom ?? []) {
        const ref = e.secretRef;
        if (ref && !mountable.has(ref.name)) return `${what} ${c.name} with envFrom referencing secret.secretName="${ref.name ?? ''}" is not allowed because service account ${saName} does not reference that secret`;
      }
    }
    return undefined;
  };
  const inContainers = check(pod.spec?.initContainers, 'init container') ?? check(pod.spec?.containers, 'container');
  if (inContainers) return inContainers;
  const pullable = new Set((sa.imagePullSecrets ?? []).map((s) => s.name));
  const pull = pod.spec?.imagePullSecrets ?? [];
  for (let i = 0; i < pull.length; i++) {
    if (!pullable.has(pull[i]!.name)) return `imagePullSecrets[${i}].name="${pull[i]!.name ?? ''}" is not allowed because service account ${saName} does not reference that imagePullSecret`;
  }
  return undefined;
}

/**
 * ServiceAccounts parsed from the cache, by cache entry (one stored version): every pod
 * create looks one up, and parsing it each time was ~1% of a create. Frozen, since every
 * caller shares it (admission only reads it).
 */
const parsedServiceAccounts = new WeakMap<object, ServiceAccount>();

/** Looks a ServiceAccount up (read-only: cached ones are shared and frozen); throws NotFound. */
export type ServiceAccountGetter = (namespace: string, name: string) => Promise<ServiceAccount>;

/**
 * The ServiceAccount lookup upstream's plugin does: the cache, then the store, and for
 * "default" (which the serviceaccount controller creates a moment after its namespace)
 * up to 10 tries 100-200 ms apart. The NotFound names "serviceaccount", as upstream's.
 */
export function serviceAccountGetter(store: ResourceStore, sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))): ServiceAccountGetter {
  return async (namespace, name) => {
    const entry = store.cache.items.get(store.key(namespace, name));
    if (entry) {
      let sa = parsedServiceAccounts.get(entry);
      if (!sa) parsedServiceAccounts.set(entry, (sa = deepFreeze(entry.obj as ServiceAccount)));
      return sa;
    }
    const attempts = name === DEFAULT_SERVICE_ACCOUNT_NAME ? 10 : 1;
    const interval = 100 + Math.floor(Math.random() * 100);
    for (let i = 0; i < attempts; i++) {
      if (i) await sleep(interval);
      const kv = await store.getKV(namespace, name);
      if (kv) return JSON.parse(kv.value) as ServiceAccount;
    }
    throw errors.notFound({ group: '', resource: 'serviceaccount', name });
  };
}

export function serviceAccountAdmission(getServiceAccount: ServiceAccountGetter, generateName?: (prefix: string) => string): WriteHook {
  return async (op, store, obj, _old, ctx) => {
    if (op !== 'CREATE' || store.info.group !== '' || store.info.resource !== 'pods' || ctx.subresource !== '') return;
    const pod = obj as Pod;
    const no = (why: string): Error => admissionForbidden(store, op, obj as Obj, why);
    if (pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined) {
      // The kubelet compares a mirror pod with its static pod: its spec is never changed.
      const why = mirrorPodViolation(pod);
      if (why) throw no(why);
      return;
    }
    const spec = (pod.spec ??= { containers: [] });
    if (!spec.serviceAccountName) spec.serviceAccountName = DEFAULT_SERVICE_ACCOUNT_NAME;
    // The deprecated alias serves the same name (upstream's v1 conversion).
    spec.serviceAccount = spec.serviceAccountName;
    const namespace = String(pod.metadata?.namespace ?? '');
    let sa: ServiceAccount;
    try {
      sa = await getServiceAccount(namespace, spec.serviceAccountName);
    } catch (e) {
      throw no(`error looking up service account ${namespace}/${spec.serviceAccountName}: ${(e as Error).message}`);
    }
    if (shouldAutomount(sa, pod)) mountServiceAccountToken(pod, generateName);
    addImagePullSecrets(sa, pod);
    const violation = secretReferenceViolation(sa, pod);
    if (violation) throw no(violation);
  };
}
