// Validation of the built-in kinds, following upstream's pkg/apis/*/validation: same
// field paths, error types and messages, since kubectl prints them verbatim.
// validateObject runs after defaulting; `old` is the stored object on update.
import type { FieldError } from '../errors.js';
import type { Container, EphemeralContainer, Pod, PodSpec, PodTemplateSpec, ResourceRequirements, Service, ServicePort, Volume, ConfigMap, Secret, Namespace, Node, Toleration } from 'kubernetes-types/core/v1.js';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { Ingress, IngressBackend } from 'kubernetes-types/networking/v1.js';
import type { LabelSelector, ObjectMeta } from 'kubernetes-types/meta/v1.js';
import {
  nameIsDNSSubdomain, nameIsDNSLabel, nameIsDNS1035Label, nameIsPathSegment, type NameValidator, validateLabels, validateAnnotations,
  isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isEnvVarName, isConfigMapKey, isValidPortName, isValidPortNum,
  isWildcardDNS1123Subdomain, inclusiveRangeError,
} from './names.js';
import { builtinResources } from '../resources.js';
import { validateSelector } from './selectors.js';
import { validateCronJob, validateJob } from './batch.js';
import { validateClusterRole, validateClusterRoleBinding, validateRole, validateRoleBinding } from './rbac.js';
import { compareQuantities, isValidQuantity } from '../quantity.js';

type Errs = FieldError[];
const req = (field: string, detail?: string): FieldError => (detail ? { type: 'Required', field, detail } : { type: 'Required', field });
const inv = (field: string, value: unknown, detail: string): FieldError => ({ type: 'Invalid', field, value, detail });
const notSupported = (field: string, value: unknown, allowed: string[]): FieldError => ({ type: 'NotSupported', field, value, allowed });
const dup = (field: string, value: unknown): FieldError => ({ type: 'Duplicate', field, value });
const forbidden = (field: string, detail: string): FieldError => ({ type: 'Forbidden', field, detail });
const IMMUTABLE = 'field is immutable';
const GE0 = 'must be greater than or equal to 0';

function eq(a: unknown, b: unknown): boolean {
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}
function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => [k, canon((v as Record<string, unknown>)[k])]));
  return v;
}

/** Validate obj (and, on update, its change from old) as upstream's Validate<Kind>[Update]. */
export function validateObject(group: string, version: string, kind: string, obj: object, old?: object): FieldError[] {
  const info = builtinResources.find((r) => r.group === group && r.version === version && r.kind === kind);
  const o = obj as { metadata?: ObjectMeta };
  const errs: Errs = [];
  errs.push(...validateObjectMeta(o.metadata, info?.namespaced ?? true, nameValidators[kind] ?? nameIsDNSSubdomain));
  if (old) errs.push(...validateObjectMetaUpdate(o.metadata, (old as { metadata?: ObjectMeta }).metadata));
  const v = validators[`${group}/${version}/${kind}`];
  if (v) errs.push(...v(obj as never, old as never));
  return errs;
}

const nameValidators: Record<string, NameValidator> = {
  Namespace: nameIsDNSLabel,
  Service: nameIsDNS1035Label,
  // upstream's minimalNameRequirements for RBAC objects: any path segment.
  Role: nameIsPathSegment,
  ClusterRole: nameIsPathSegment,
  RoleBinding: nameIsPathSegment,
  ClusterRoleBinding: nameIsPathSegment,
};

// ---------------------------------------------------------------------------
// metadata

export function validateObjectMeta(meta: ObjectMeta | undefined, namespaced: boolean, nameFn: NameValidator = nameIsDNSSubdomain): Errs {
  const errs: Errs = [];
  const m = meta ?? {};
  if (m.generateName) for (const msg of nameFn(m.generateName, true)) errs.push(inv('metadata.generateName', m.generateName, msg));
  if (!m.name) errs.push(req('metadata.name', 'name or generateName is required'));
  else for (const msg of nameFn(m.name, false)) errs.push(inv('metadata.name', m.name, msg));
  if (namespaced) {
    if (!m.namespace) errs.push(req('metadata.namespace'));
    else for (const msg of isDNS1123Label(m.namespace)) errs.push(inv('metadata.namespace', m.namespace, msg));
  } else if (m.namespace) {
    errs.push(forbidden('metadata.namespace', 'not allowed on this type'));
  }
  if (m.generation !== undefined && m.generation < 0) errs.push(inv('metadata.generation', m.generation, GE0));
  errs.push(...validateLabels(m.labels, 'metadata.labels'));
  errs.push(...validateAnnotations(m.annotations, 'metadata.annotations'));
  (m.ownerReferences ?? []).forEach((r, i) => {
    const p = `metadata.ownerReferences[${i}]`;
    if (!r.apiVersion) errs.push(inv(`${p}.apiVersion`, r.apiVersion ?? '', 'version must not be empty'));
    if (!r.kind) errs.push(inv(`${p}.kind`, r.kind ?? '', 'kind must not be empty'));
    if (!r.name) errs.push(inv(`${p}.name`, r.name ?? '', 'name must not be empty'));
    if (!r.uid) errs.push(inv(`${p}.uid`, r.uid ?? '', 'uid must not be empty'));
  });
  if ((m.ownerReferences ?? []).filter((r) => r.controller).length > 1) {
    errs.push(inv('metadata.ownerReferences', m.ownerReferences, 'Only one reference can have Controller set to true'));
  }
  (m.finalizers ?? []).forEach((f, i) => {
    for (const msg of isQualifiedName(f)) errs.push(inv(`metadata.finalizers[${i}]`, f, msg));
  });
  return errs;
}

export function validateObjectMetaUpdate(meta: ObjectMeta | undefined, old: ObjectMeta | undefined): Errs {
  const errs: Errs = [];
  const m = meta ?? {};
  const o = old ?? {};
  for (const k of ['name', 'namespace', 'uid', 'creationTimestamp'] as const) {
    if (o[k] !== undefined && m[k] !== undefined && m[k] !== o[k]) errs.push(inv(`metadata.${k}`, m[k], IMMUTABLE));
  }
  if (o.deletionTimestamp && m.deletionTimestamp !== undefined && m.deletionTimestamp !== o.deletionTimestamp) errs.push(inv('metadata.deletionTimestamp', m.deletionTimestamp, IMMUTABLE));
  return errs;
}

// ---------------------------------------------------------------------------
// pods

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const TERMINATION_MESSAGE_POLICIES = ['File', 'FallbackToLogsOnError'];

function validatePort(field: string, port: number | undefined, required: boolean, errs: Errs): void {
  if (port === undefined || port === 0) { if (required) errs.push(req(field)); return; }
  for (const msg of isValidPortNum(port)) errs.push(inv(field, port, msg));
}

function validateVolumes(volumes: Volume[], path: string): { errs: Errs; names: Set<string> } {
  const errs: Errs = [];
  const names = new Set<string>();
  volumes.forEach((v, i) => {
    const p = `${path}[${i}]`;
    if (!v.name) errs.push(req(`${p}.name`));
    else {
      for (const msg of isDNS1123Label(v.name)) errs.push(inv(`${p}.name`, v.name, msg));
      if (names.has(v.name)) errs.push(dup(`${p}.name`, v.name));
      names.add(v.name);
    }
    const sources = Object.keys(v).filter((k) => k !== 'name' && (v as unknown as Record<string, unknown>)[k] != null);
    if (sources.length === 0) errs.push(req(p, 'must specify a volume type'));
    else if (sources.length > 1) errs.push(forbidden(`${p}.${sources[1]}`, 'may not specify more than 1 volume type'));
    if (v.configMap && !v.configMap.name) errs.push(req(`${p}.configMap.name`));
    if (v.secret && !v.secret.secretName) errs.push(req(`${p}.secret.secretName`));
    if (v.hostPath && !v.hostPath.path) errs.push(req(`${p}.hostPath.path`));
    if (v.persistentVolumeClaim && !v.persistentVolumeClaim.claimName) errs.push(req(`${p}.persistentVolumeClaim.claimName`));
    for (const src of [v.configMap, v.secret, v.downwardAPI, v.projected]) {
      const mode = src?.defaultMode;
      if (mode !== undefined && (mode > 0o777 || mode < 0)) errs.push(inv(`${p}.${sources[0]}.defaultMode`, mode, 'must be a number between 0 and 0777 (octal), both inclusive'));
    }
  });
  return { errs, names };
}

function validateResources(r: ResourceRequirements | undefined, path: string): Errs {
  const errs: Errs = [];
  if (!r) return errs;
  for (const kind of ['limits', 'requests'] as const) {
    for (const [name, q] of Object.entries(r[kind] ?? {})) {
      const f = `${path}.${kind}[${name}]`;
      if (!isValidQuantity(q)) { errs.push(inv(f, q, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")); continue; }
      if (compareQuantities(String(q), '0') < 0) errs.push(inv(f, String(q), GE0));
      if (!name.includes('/') && !['cpu', 'memory', 'ephemeral-storage', 'storage'].includes(name) && !name.startsWith('hugepages-')) {
        errs.push(inv(`${path}.${kind}[${name}]`, name, 'must be a standard resource type or fully qualified'));
      }
    }
  }
  for (const [name, q] of Object.entries(r.requests ?? {})) {
    const lim = r.limits?.[name];
    if (lim !== undefined && isValidQuantity(q) && isValidQuantity(lim) && compareQuantities(String(q), String(lim)) > 0) {
      errs.push(inv(`${path}.requests`, String(q), `must be less than or equal to ${name} limit of ${lim}`));
    }
  }
  return errs;
}

function validateContainers(cs: (Container | EphemeralContainer)[], path: string, volumes: Set<string>, allNames: Set<string>, requireImage: boolean): Errs {
  const errs: Errs = [];
  cs.forEach((c, i) => {
    const p = `${path}[${i}]`;
    if (!c.name) errs.push(req(`${p}.name`));
    else {
      for (const msg of isDNS1123Label(c.name)) errs.push(inv(`${p}.name`, c.name, msg));
      if (allNames.has(c.name)) errs.push(dup(`${p}.name`, c.name));
      allNames.add(c.name);
    }
    if (requireImage && !c.image) errs.push(req(`${p}.image`));
    if (c.image !== undefined && c.image !== c.image.trim()) errs.push(inv(`${p}.image`, c.image, 'must not have leading or trailing whitespace'));
    if (c.imagePullPolicy && !PULL_POLICIES.includes(c.imagePullPolicy)) errs.push(notSupported(`${p}.imagePullPolicy`, c.imagePullPolicy, PULL_POLICIES));
    if (c.terminationMessagePolicy && !TERMINATION_MESSAGE_POLICIES.includes(c.terminationMessagePolicy)) errs.push(notSupported(`${p}.terminationMessagePolicy`, c.terminationMessagePolicy, TERMINATION_MESSAGE_POLICIES));
    const portNames = new Set<string>();
    (c.ports ?? []).forEach((port, j) => {
      const pp = `${p}.ports[${j}]`;
      if (port.name) {
        for (const msg of isValidPortName(port.name)) errs.push(inv(`${pp}.name`, port.name, msg));
        if (portNames.has(port.name)) errs.push(dup(`${pp}.name`, port.name));
        portNames.add(port.name);
      }
      validatePort(`${pp}.containerPort`, port.containerPort, true, errs);
      validatePort(`${pp}.hostPort`, port.hostPort, false, errs);
      if (!port.protocol) errs.push(req(`${pp}.protocol`));
      else if (!PROTOCOLS.includes(port.protocol)) errs.push(notSupported(`${pp}.protocol`, port.protocol, PROTOCOLS));
    });
    (c.env ?? []).forEach((e, j) => {
      const ep = `${p}.env[${j}]`;
      if (!e.name) errs.push(req(`${ep}.name`));
      else for (const msg of isEnvVarName(e.name)) errs.push(inv(`${ep}.name`, e.name, msg));
      if (e.value && e.valueFrom) errs.push(inv(`${ep}.valueFrom`, '', 'may not be specified when `value` is not empty'));
    });
    const mountPaths = new Set<string>();
    (c.volumeMounts ?? []).forEach((m, j) => {
      const mp = `${p}.volumeMounts[${j}]`;
      if (!m.name) errs.push(req(`${mp}.name`));
      else if (!volumes.has(m.name)) errs.push({ type: 'NotFound', field: `${mp}.name`, value: m.name });
      if (!m.mountPath) errs.push(req(`${mp}.mountPath`));
      else {
        if (mountPaths.has(m.mountPath)) errs.push(inv(`${mp}.mountPath`, m.mountPath, 'must be unique'));
        mountPaths.add(m.mountPath);
      }
    });
    errs.push(...validateResources(c.resources, `${p}.resources`));
    for (const probeName of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
      const probe = (c as Container)[probeName];
      if (!probe) continue;
      const pp = `${p}.${probeName}`;
      const handlers = (['exec', 'httpGet', 'tcpSocket', 'grpc'] as const).filter((h) => probe[h]);
      if (handlers.length === 0) errs.push(req(pp, 'must specify a handler type'));
      else if (handlers.length > 1) errs.push(forbidden(`${pp}.${handlers[1]}`, 'may not specify more than 1 handler type'));
      for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'] as const) {
        const v = probe[f];
        if (v !== undefined && v < 0) errs.push(inv(`${pp}.${f}`, v, GE0));
      }
      if ((probeName === 'livenessProbe' || probeName === 'startupProbe') && probe.successThreshold !== undefined && probe.successThreshold !== 1) {
        errs.push(inv(`${pp}.successThreshold`, probe.successThreshold, 'must be 1'));
      }
    }
  });
  return errs;
}

export function validatePodSpec(spec: PodSpec | undefined, path = 'spec'): Errs {
  const errs: Errs = [];
  if (!spec) return [req(path)];
  const { errs: vErrs, names: volumes } = validateVolumes(spec.volumes ?? [], `${path}.volumes`);
  errs.push(...vErrs);
  const allNames = new Set<string>();
  if (!spec.containers?.length) errs.push(req(`${path}.containers`));
  else errs.push(...validateContainers(spec.containers, `${path}.containers`, volumes, allNames, true));
  errs.push(...validateContainers(spec.initContainers ?? [], `${path}.initContainers`, volumes, allNames, true));
  errs.push(...validateContainers(spec.ephemeralContainers ?? [], `${path}.ephemeralContainers`, volumes, allNames, true));
  if (spec.restartPolicy && !RESTART_POLICIES.includes(spec.restartPolicy)) errs.push(notSupported(`${path}.restartPolicy`, spec.restartPolicy, RESTART_POLICIES));
  if (spec.dnsPolicy && !DNS_POLICIES.includes(spec.dnsPolicy)) errs.push(notSupported(`${path}.dnsPolicy`, spec.dnsPolicy, DNS_POLICIES));
  if (spec.dnsPolicy === 'None' && !spec.dnsConfig) errs.push(req(`${path}.dnsConfig`, 'must provide `dnsConfig` when `dnsPolicy` is None'));
  if (spec.terminationGracePeriodSeconds !== undefined && spec.terminationGracePeriodSeconds !== null && spec.terminationGracePeriodSeconds < 0) {
    errs.push(inv(`${path}.terminationGracePeriodSeconds`, spec.terminationGracePeriodSeconds, GE0));
  }
  if (spec.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds !== null && (spec.activeDeadlineSeconds < 1 || spec.activeDeadlineSeconds > 2147483647)) {
    errs.push(inv(`${path}.activeDeadlineSeconds`, spec.activeDeadlineSeconds, inclusiveRangeError(1, 2147483647)));
  }
  if (spec.nodeName) for (const msg of isDNS1123Subdomain(spec.nodeName)) errs.push(inv(`${path}.nodeName`, spec.nodeName, msg));
  if (spec.serviceAccountName) for (const msg of isDNS1123Subdomain(spec.serviceAccountName)) errs.push(inv(`${path}.serviceAccountName`, spec.serviceAccountName, msg));
  if (spec.hostname) for (const msg of isDNS1123Label(spec.hostname)) errs.push(inv(`${path}.hostname`, spec.hostname, msg));
  if (spec.subdomain) for (const msg of isDNS1123Label(spec.subdomain)) errs.push(inv(`${path}.subdomain`, spec.subdomain, msg));
  errs.push(...validateLabels(spec.nodeSelector, `${path}.nodeSelector`));
  (spec.tolerations ?? []).forEach((t, i) => errs.push(...validateToleration(t, `${path}.tolerations[${i}]`)));
  return errs;
}

function validateToleration(t: Toleration, p: string): Errs {
  const errs: Errs = [];
  if (t.key) for (const msg of isQualifiedName(t.key)) errs.push(inv(`${p}.key`, t.key, msg));
  if (!t.key && t.operator !== 'Exists') errs.push(inv(`${p}.operator`, t.operator ?? '', 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
  if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') errs.push(inv(`${p}.effect`, t.effect ?? '', 'effect must be \'NoExecute\' when `tolerationSeconds` is set'));
  if (t.operator && t.operator !== 'Equal' && t.operator !== 'Exists') errs.push(notSupported(`${p}.operator`, t.operator, ['Equal', 'Exists']));
  if (t.operator === 'Exists' && t.value) errs.push(inv(`${p}.operator`, t.value, 'value must be empty when `operator` is \'Exists\''));
  if (t.effect && !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) errs.push(notSupported(`${p}.effect`, t.effect, ['NoExecute', 'NoSchedule', 'PreferNoSchedule']));
  return errs;
}

const POD_UPDATABLE = 'pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations) or `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

function validatePodUpdate(pod: Pod, old: Pod): Errs {
  const errs: Errs = [];
  const spec = pod.spec;
  const oldSpec = old.spec;
  if (!spec || !oldSpec) return errs;
  if (oldSpec.activeDeadlineSeconds && spec.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds !== null && spec.activeDeadlineSeconds > oldSpec.activeDeadlineSeconds) {
    errs.push(inv('spec.activeDeadlineSeconds', spec.activeDeadlineSeconds, 'must be less than or equal to previous value'));
  } else if (oldSpec.activeDeadlineSeconds && (spec.activeDeadlineSeconds === undefined || spec.activeDeadlineSeconds === null)) {
    errs.push(inv('spec.activeDeadlineSeconds', spec.activeDeadlineSeconds ?? null, 'must not update from a positive integer to nil value'));
  }
  // Copy what may change from the new spec onto the old one; anything else left differing is forbidden.
  const munged = structuredClone(oldSpec);
  const images = (to: Container[] | undefined, from: Container[] | undefined) => {
    if (!to || !from || to.length !== from.length) return;
    to.forEach((c, i) => { if (from[i]!.image) c.image = from[i]!.image; });
  };
  images(munged.containers, spec.containers);
  images(munged.initContainers, spec.initContainers);
  munged.activeDeadlineSeconds = spec.activeDeadlineSeconds;
  if ((oldSpec.terminationGracePeriodSeconds ?? 0) < 0 && spec.terminationGracePeriodSeconds === 1) munged.terminationGracePeriodSeconds = 1;
  // Tolerations: existing ones stay (their tolerationSeconds may only shrink); new ones may be added.
  const oldTols = oldSpec.tolerations ?? [];
  const newTols = spec.tolerations ?? [];
  const kept = oldTols.every((ot) => newTols.some((nt) => nt.key === ot.key && nt.operator === ot.operator && nt.value === ot.value && nt.effect === ot.effect &&
    (ot.tolerationSeconds === undefined || (nt.tolerationSeconds !== undefined && nt.tolerationSeconds <= ot.tolerationSeconds))));
  if (kept) munged.tolerations = spec.tolerations;
  else errs.push(forbidden('spec.tolerations', 'existing toleration can not be modified except its tolerationSeconds'));
  // The ephemeral containers subresource updates these, not pod updates.
  munged.ephemeralContainers = spec.ephemeralContainers;
  // The scheduler's binding sets nodeName once.
  if (!oldSpec.nodeName) munged.nodeName = spec.nodeName;
  // Scheduling gates may only be removed.
  if ((spec.schedulingGates ?? []).every((g) => (oldSpec.schedulingGates ?? []).some((o) => o.name === g.name))) munged.schedulingGates = spec.schedulingGates;
  if (!eq(munged, spec)) {
    errs.push(forbidden('spec', `${POD_UPDATABLE}\n${specDiff(munged, spec)}`));
  }
  return errs;
}

/** A short description of what differs, standing in for upstream's cmp.Diff output. */
function specDiff(a: unknown, b: unknown, path = 'spec', out: string[] = []): string {
  if (eq(a, b)) return out.join('\n');
  const isObj = (x: unknown) => x !== null && typeof x === 'object';
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const k of keys) {
      const child = Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`;
      specDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], child, out);
    }
  } else {
    out.push(`-  ${path}: ${JSON.stringify(a) ?? 'nil'}`, `+  ${path}: ${JSON.stringify(b) ?? 'nil'}`);
  }
  return out.join('\n');
}

export function validatePodTemplate(t: PodTemplateSpec | undefined, path: string): Errs {
  if (!t) return [req(path)];
  const errs: Errs = [];
  errs.push(...validateLabels(t.metadata?.labels, `${path}.metadata.labels`));
  errs.push(...validateAnnotations(t.metadata?.annotations, `${path}.metadata.annotations`));
  errs.push(...validatePodSpec(t.spec, `${path}.spec`));
  return errs;
}

// ---------------------------------------------------------------------------
// workloads

/** Does the label selector select these labels? */
export function selectorMatches(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    const val = labels[e.key];
    switch (e.operator) {
      case 'In': if (!has || !(e.values ?? []).includes(val!)) return false; break;
      case 'NotIn': if (has && (e.values ?? []).includes(val!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: return false;
    }
  }
  return true;
}

function validateReplicated(obj: Deployment | ReplicaSet, old: Deployment | ReplicaSet | undefined, what: string): Errs {
  const errs: Errs = [];
  const spec = obj.spec;
  if (!spec) return [req('spec')];
  if (spec.replicas !== undefined && spec.replicas !== null && spec.replicas < 0) errs.push(inv('spec.replicas', spec.replicas, GE0));
  if (spec.minReadySeconds !== undefined && spec.minReadySeconds < 0) errs.push(inv('spec.minReadySeconds', spec.minReadySeconds, GE0));
  if (!spec.selector) errs.push(req('spec.selector'));
  else {
    errs.push(...validateSelector(spec.selector, 'spec.selector'));
    const empty = !Object.keys(spec.selector.matchLabels ?? {}).length && !(spec.selector.matchExpressions ?? []).length;
    if (empty) errs.push(inv('spec.selector', spec.selector, `empty selector is invalid for ${what}`));
    else if (spec.template && !selectorMatches(spec.selector, spec.template.metadata?.labels ?? {})) {
      errs.push(inv('spec.template.metadata.labels', spec.template.metadata?.labels ?? {}, '`selector` does not match template `labels`'));
    }
  }
  errs.push(...validatePodTemplate(spec.template, 'spec.template'));
  const rp = spec.template?.spec?.restartPolicy;
  if (rp && rp !== 'Always') errs.push(notSupported('spec.template.spec.restartPolicy', rp, ['Always']));
  if (spec.template?.spec?.activeDeadlineSeconds) errs.push(forbidden('spec.template.spec.activeDeadlineSeconds', 'activeDeadlineSeconds in ReplicaSet is not Supported'));
  if (old?.spec?.selector && spec.selector && !eq(old.spec.selector, spec.selector)) errs.push(inv('spec.selector', spec.selector, IMMUTABLE));
  return errs;
}

function validateIntOrPercent(v: number | string | undefined, path: string, errs: Errs): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') {
    if (v < 0) errs.push(inv(path, v, GE0));
    return v === 0 ? 0 : -1;
  }
  const m = /^(\d+)%$/.exec(v);
  if (!m) { errs.push(inv(path, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")); return undefined; }
  const n = Number(m[1]);
  if (n > 100) errs.push(inv(path, v, 'must not be greater than 100%'));
  return n === 0 ? 0 : -1;
}

function validateDeployment(d: Deployment, old?: Deployment): Errs {
  const errs = validateReplicated(d, old, 'deployment');
  const st = d.spec?.strategy;
  if (st) {
    if (st.type && st.type !== 'Recreate' && st.type !== 'RollingUpdate') errs.push(notSupported('spec.strategy.type', st.type, ['Recreate', 'RollingUpdate']));
    if (st.type === 'Recreate' && st.rollingUpdate) errs.push(forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
    if (st.rollingUpdate) {
      const u = validateIntOrPercent(st.rollingUpdate.maxUnavailable, 'spec.strategy.rollingUpdate.maxUnavailable', errs);
      const s = validateIntOrPercent(st.rollingUpdate.maxSurge, 'spec.strategy.rollingUpdate.maxSurge', errs);
      if (u === 0 && s === 0) errs.push(inv('spec.strategy.rollingUpdate.maxUnavailable', st.rollingUpdate.maxUnavailable, 'may not be 0 when `maxSurge` is 0'));
    }
  }
  const spec = d.spec;
  if (spec?.revisionHistoryLimit !== undefined && spec.revisionHistoryLimit < 0) errs.push(inv('spec.revisionHistoryLimit', spec.revisionHistoryLimit, GE0));
  if (spec?.progressDeadlineSeconds !== undefined) {
    if (spec.progressDeadlineSeconds < 0) errs.push(inv('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, GE0));
    else if (spec.progressDeadlineSeconds <= (spec.minReadySeconds ?? 0)) errs.push(inv('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, 'must be greater than minReadySeconds'));
  }
  return errs;
}

// ---------------------------------------------------------------------------
// services

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];

function validateService(s: Service, old?: Service): Errs {
  const errs: Errs = [];
  const spec = s.spec;
  if (!spec) return [req('spec')];
  const type = spec.type ?? 'ClusterIP';
  if (!SERVICE_TYPES.includes(type)) errs.push(notSupported('spec.type', type, SERVICE_TYPES));
  const headless = spec.clusterIP === 'None';
  const ports = spec.ports ?? [];
  if (type === 'ExternalName') {
    if (!spec.externalName) errs.push(req('spec.externalName'));
    else for (const msg of isDNS1123Subdomain(spec.externalName.replace(/\.$/, ''))) errs.push(inv('spec.externalName', spec.externalName, msg));
  } else if (!ports.length && !headless) {
    errs.push(req('spec.ports'));
  }
  const names = new Set<string>();
  const seen = new Set<string>();
  ports.forEach((p: ServicePort, i) => {
    const pp = `spec.ports[${i}]`;
    if (ports.length > 1 && !p.name) errs.push(req(`${pp}.name`));
    if (p.name) {
      for (const msg of isDNS1123Label(p.name)) errs.push(inv(`${pp}.name`, p.name, msg));
      if (names.has(p.name)) errs.push(dup(`${pp}.name`, p.name));
      names.add(p.name);
    }
    validatePort(`${pp}.port`, p.port, true, errs);
    if (!p.protocol) errs.push(req(`${pp}.protocol`));
    else if (!PROTOCOLS.includes(p.protocol)) errs.push(notSupported(`${pp}.protocol`, p.protocol, PROTOCOLS));
    const key = `${p.port}/${p.protocol}`;
    if (seen.has(key)) errs.push(dup(pp, { port: p.port, protocol: p.protocol }));
    seen.add(key);
    if (typeof p.targetPort === 'number') for (const msg of isValidPortNum(p.targetPort)) errs.push(inv(`${pp}.targetPort`, p.targetPort, msg));
    else if (typeof p.targetPort === 'string') for (const msg of isValidPortName(p.targetPort)) errs.push(inv(`${pp}.targetPort`, p.targetPort, msg));
    if (p.nodePort) {
      if (type === 'ClusterIP' || type === 'ExternalName') errs.push(forbidden(`${pp}.nodePort`, `may not be used when \`type\` is '${type}'`));
      else validatePort(`${pp}.nodePort`, p.nodePort, false, errs);
    }
  });
  if (spec.sessionAffinity && !['ClientIP', 'None'].includes(spec.sessionAffinity)) errs.push(notSupported('spec.sessionAffinity', spec.sessionAffinity, ['ClientIP', 'None']));
  const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
  if (t !== undefined && (t <= 0 || t > 86400)) errs.push(inv('spec.sessionAffinityConfig.clientIP.timeoutSeconds', t, 'must be greater than 0 and less than 86400'));
  for (const [f, allowed] of [['externalTrafficPolicy', ['Cluster', 'Local']], ['internalTrafficPolicy', ['Cluster', 'Local']]] as const) {
    const v = spec[f];
    if (v && !(allowed as readonly string[]).includes(v)) errs.push(notSupported(`spec.${f}`, v, [...allowed]));
  }
  if (spec.externalTrafficPolicy && type !== 'NodePort' && type !== 'LoadBalancer') {
    errs.push(inv('spec.externalTrafficPolicy', spec.externalTrafficPolicy, 'may only be set when `type` is \'NodePort\' or \'LoadBalancer\''));
  }
  if (spec.clusterIP && spec.clusterIP !== 'None' && !/^(\d{1,3})(\.\d{1,3}){3}$/.test(spec.clusterIP) && !spec.clusterIP.includes(':')) {
    errs.push(inv('spec.clusterIPs[0]', spec.clusterIP, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
  }
  errs.push(...validateLabels(spec.selector, 'spec.selector'));
  if (old?.spec) {
    // The registry copies allocated values forward, so a difference here is a real change.
    const oldIPs = old.spec.clusterIPs ?? (old.spec.clusterIP ? [old.spec.clusterIP] : []);
    const newIPs = spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : []);
    const wasAllocated = oldIPs.length > 0 && old.spec.type !== 'ExternalName';
    if (wasAllocated && type !== 'ExternalName') {
      if (!newIPs.length) errs.push(inv('spec.clusterIPs[0]', newIPs, 'primary clusterIP can not be unset'));
      else if (newIPs[0] !== oldIPs[0]) errs.push(inv('spec.clusterIPs[0]', newIPs, 'may not change once set'));
    }
  }
  return errs;
}

// ---------------------------------------------------------------------------
// config

function validateDataKeys(keys: string[], path: string, others: Set<string>, otherName: string): Errs {
  const errs: Errs = [];
  for (const k of keys) {
    for (const msg of isConfigMapKey(k)) errs.push(inv(`${path}[${k}]`, k, msg));
    if (others.has(k)) errs.push(inv(`${path}[${k}]`, k, `duplicate of key present in ${otherName}`));
  }
  return errs;
}

function validateConfigMap(c: ConfigMap, old?: ConfigMap): Errs {
  const data = Object.keys(c.data ?? {});
  const bin = Object.keys(c.binaryData ?? {});
  const errs = [...validateDataKeys(data, 'data', new Set(), ''), ...validateDataKeys(bin, 'binaryData', new Set(data), 'data')];
  let size = 0;
  for (const [k, v] of Object.entries(c.data ?? {})) size += k.length + Buffer.byteLength(String(v));
  for (const [k, v] of Object.entries(c.binaryData ?? {})) size += k.length + Buffer.from(String(v), 'base64').length;
  if (size > 1024 * 1024) errs.push({ type: 'TooLong', field: '', detail: 'must have at most 1048576 bytes' });
  if (old?.immutable) {
    if (!eq(old.data, c.data)) errs.push(forbidden('data', 'field is immutable when `immutable` is set'));
    if (!eq(old.binaryData, c.binaryData)) errs.push(forbidden('binaryData', 'field is immutable when `immutable` is set'));
    if (!c.immutable) errs.push(forbidden('immutable', 'field is immutable when `immutable` is set'));
  }
  return errs;
}

function validateSecret(s: Secret, old?: Secret): Errs {
  const errs: Errs = [];
  const data = s.data ?? {};
  const keys = new Set([...Object.keys(data), ...Object.keys(s.stringData ?? {})]);
  errs.push(...validateDataKeys(Object.keys(data), 'data', new Set(), ''));
  let size = 0;
  for (const [k, v] of Object.entries(data)) size += k.length + Buffer.from(String(v), 'base64').length;
  if (size > 1024 * 1024) errs.push({ type: 'TooLong', field: 'data', detail: 'must have at most 1048576 bytes' });
  const need = (k: string) => { if (!keys.has(k)) errs.push(req(`data[${k}]`)); };
  switch (s.type) {
    case 'kubernetes.io/tls': need('tls.crt'); need('tls.key'); break;
    case 'kubernetes.io/dockerconfigjson': need('.dockerconfigjson'); break;
    case 'kubernetes.io/dockercfg': need('.dockercfg'); break;
    case 'kubernetes.io/service-account-token':
      if (!s.metadata?.annotations?.['kubernetes.io/service-account.name']) errs.push(req('metadata.annotations[kubernetes.io/service-account.name]'));
      break;
    case 'kubernetes.io/basic-auth':
      if (!keys.has('username') && !keys.has('password')) errs.push(req('data[username]'));
      break;
    case 'kubernetes.io/ssh-auth': need('ssh-privatekey'); break;
  }
  if (old) {
    if ((old.type ?? 'Opaque') !== (s.type ?? 'Opaque')) errs.push(inv('type', s.type, IMMUTABLE));
    if (old.immutable) {
      if (!eq(old.data, s.data)) errs.push(forbidden('data', 'field is immutable when `immutable` is set'));
      if (!s.immutable) errs.push(forbidden('immutable', 'field is immutable when `immutable` is set'));
    }
  }
  return errs;
}

// ---------------------------------------------------------------------------
// networking

const PATH_TYPES = ['Exact', 'ImplementationSpecific', 'Prefix'];

function validateIngressBackend(b: IngressBackend, path: string): Errs {
  const errs: Errs = [];
  if (b.service && b.resource) errs.push(inv(path, '', 'cannot set both resource and service backends'));
  else if (b.service) {
    if (!b.service.name) errs.push(req(`${path}.service.name`));
    else for (const msg of isDNS1035LabelMsgs(b.service.name)) errs.push(inv(`${path}.service.name`, b.service.name, msg));
    const port = b.service.port;
    if (!port || (port.name && port.number)) errs.push(inv(`${path}.service.port`, port ?? {}, 'port name or number is required'));
    else if (port.name) for (const msg of isValidPortName(port.name)) errs.push(inv(`${path}.service.port.name`, port.name, msg));
    else if (port.number !== undefined) validatePort(`${path}.service.port.number`, port.number, true, errs);
  } else if (b.resource) {
    if (!b.resource.kind) errs.push(req(`${path}.resource.kind`));
    if (!b.resource.name) errs.push(req(`${path}.resource.name`));
  } else {
    errs.push(inv(path, '', 'resource or service backend is required'));
  }
  return errs;
}

function isDNS1035LabelMsgs(s: string): string[] {
  return nameIsDNS1035Label(s, false);
}

function validateIngress(ing: Ingress): Errs {
  const errs: Errs = [];
  const spec = ing.spec;
  if (!spec) return [req('spec')];
  if (!spec.rules?.length && !spec.defaultBackend) errs.push(inv('spec.rules', spec.rules ?? [], 'either `defaultBackend` or `rules` must be specified'));
  if (spec.defaultBackend) errs.push(...validateIngressBackend(spec.defaultBackend, 'spec.defaultBackend'));
  if (spec.ingressClassName) for (const msg of isDNS1123Subdomain(spec.ingressClassName)) errs.push(inv('spec.ingressClassName', spec.ingressClassName, msg));
  (spec.rules ?? []).forEach((r, i) => {
    const rp = `spec.rules[${i}]`;
    if (r.host) {
      if (/^(\d{1,3})(\.\d{1,3}){3}$/.test(r.host)) errs.push(inv(`${rp}.host`, r.host, 'must be a DNS name, not an IP address'));
      const msgs = r.host.startsWith('*') ? isWildcardDNS1123Subdomain(r.host) : isDNS1123Subdomain(r.host);
      for (const msg of msgs) errs.push(inv(`${rp}.host`, r.host, msg));
    }
    if (!r.http) return;
    if (!r.http.paths?.length) { errs.push(req(`${rp}.http.paths`)); return; }
    r.http.paths.forEach((p, j) => {
      const pp = `${rp}.http.paths[${j}]`;
      if (!p.pathType) errs.push(req(`${pp}.pathType`, 'pathType must be specified'));
      else if (!PATH_TYPES.includes(p.pathType)) errs.push(notSupported(`${pp}.pathType`, p.pathType, PATH_TYPES));
      else if (p.pathType === 'Exact' || p.pathType === 'Prefix') {
        if (!p.path?.startsWith('/')) errs.push(inv(`${pp}.path`, p.path ?? '', 'must be an absolute path'));
        else if (/\/\/|\/\.\.?(\/|$)/.test(p.path)) errs.push(inv(`${pp}.path`, p.path, "must not contain '//', '/./' or '/../'"));
      } else if (p.path && !p.path.startsWith('/')) errs.push(inv(`${pp}.path`, p.path, 'must be an absolute path'));
      if (!p.backend) errs.push(req(`${pp}.backend`));
      else errs.push(...validateIngressBackend(p.backend, `${pp}.backend`));
    });
  });
  (spec.tls ?? []).forEach((t, i) => (t.hosts ?? []).forEach((h, j) => {
    const msgs = h.startsWith('*') ? isWildcardDNS1123Subdomain(h) : isDNS1123Subdomain(h);
    for (const msg of msgs) errs.push(inv(`spec.tls[${i}].hosts[${j}]`, h, msg));
  }));
  return errs;
}

// ---------------------------------------------------------------------------
// cluster-scoped

function validateNamespace(n: Namespace): Errs {
  const errs: Errs = [];
  (n.spec?.finalizers ?? []).forEach((f, i) => {
    const msgs = f.includes('/') ? isQualifiedName(f) : (f === 'kubernetes' ? [] : isQualifiedName(f));
    for (const msg of msgs) errs.push(inv(`spec.finalizers[${i}]`, f, msg));
  });
  return errs;
}

function validateNode(n: Node): Errs {
  const errs: Errs = [];
  (n.spec?.taints ?? []).forEach((t, i) => {
    const p = `spec.taints[${i}]`;
    if (!t.key) errs.push(req(`${p}.key`));
    else for (const msg of isQualifiedName(t.key)) errs.push(inv(`${p}.key`, t.key, msg));
    if (t.value) for (const msg of isQualifiedName(t.value)) errs.push(inv(`${p}.value`, t.value, msg));
    if (!t.effect) errs.push(req(`${p}.effect`));
    else if (!['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) errs.push(notSupported(`${p}.effect`, t.effect, ['NoExecute', 'NoSchedule', 'PreferNoSchedule']));
  });
  return errs;
}

type Validator = (obj: never, old?: never) => Errs;
const validators: Record<string, Validator> = {
  '/v1/Pod': ((p: Pod, old?: Pod) => [...validatePodSpec(p.spec, 'spec'), ...(old ? validatePodUpdate(p, old) : [])]) as Validator,
  '/v1/Service': validateService as Validator,
  '/v1/ConfigMap': validateConfigMap as Validator,
  '/v1/Secret': validateSecret as Validator,
  '/v1/Namespace': validateNamespace as Validator,
  '/v1/Node': validateNode as Validator,
  'apps/v1/Deployment': validateDeployment as Validator,
  'apps/v1/ReplicaSet': ((r: ReplicaSet, old?: ReplicaSet) => validateReplicated(r, old, 'deployment')) as Validator,
  'batch/v1/Job': validateJob as Validator,
  'batch/v1/CronJob': validateCronJob as Validator,
  'networking.k8s.io/v1/Ingress': validateIngress as Validator,
  'rbac.authorization.k8s.io/v1/Role': validateRole as Validator,
  'rbac.authorization.k8s.io/v1/ClusterRole': validateClusterRole as Validator,
  'rbac.authorization.k8s.io/v1/RoleBinding': validateRoleBinding as Validator,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': validateClusterRoleBinding as Validator,
};
