// A container's environment as upstream's kubelet builds it (kubelet_pods.go
// makeEnvironmentVariables): envFrom sources first (with prefix), then env entries in
// order with `$(VAR)` expansion against what is defined so far plus the service
// links, then the service links for names not set yet. Missing ConfigMaps, Secrets
// or keys raise a ConfigError carrying upstream's message (CreateContainerConfigError).
import type { ConfigMap, Container, EnvVar, ObjectFieldSelector, Pod, ResourceFieldSelector, Secret, Service } from 'kubernetes-types/core/v1.js';
import { quantityMilliValue, quantityValue } from '../api/quantity.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface EnvSources {
  configMap(namespace: string, name: string): ConfigMap | undefined;
  secret(namespace: string, name: string): Secret | undefined;
  /** Services visible to the pod for service links (its namespace + the master service). */
  services: Service[];
  podIP?: string;
  podIPs?: string[];
  hostIP?: string;
  hostIPs?: string[];
  /** Node allocatable, for resourceFieldRef of containers without limits. */
  nodeAllocatable?: { cpu?: string; memory?: string; 'ephemeral-storage'?: string };
  /** Called for envFrom keys that are not valid names (upstream records an event). */
  onInvalidKey?(source: string, keys: string[]): void;
}

export interface KeyValue { key: string; value: string }

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** `$(VAR)` expansion as k8s.io/kubernetes/third_party/forked/golang/expansion: `$$` escapes, unknown refs stay. */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c !== '$' || i + 1 >= input.length) { out += c; i++; continue; }
    const n = input[i + 1]!;
    if (n === '$') { out += '$'; i += 2; continue; }
    if (n === '(') {
      const end = input.indexOf(')', i + 2);
      if (end < 0) { out += input.slice(i); break; }
      const name = input.slice(i + 2, end);
      const v = lookup(name);
      out += v === undefined ? `$(${name})` : v;
      i = end + 1;
      continue;
    }
    out += c + n;
    i += 2;
  }
  return out;
}

/** Service link variables (upstream envvars.FromServices) for services with a cluster IP. */
export function serviceEnv(services: Service[]): KeyValue[] {
  const out: KeyValue[] = [];
  const sorted = [...services].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const s of sorted) {
    const ip = s.spec?.clusterIP;
    if (!ip || ip === 'None') continue;
    const name = (s.metadata?.name ?? '').toUpperCase().replace(/-/g, '_');
    const ports = s.spec?.ports ?? [];
    if (!ports.length) continue;
    out.push({ key: `${name}_SERVICE_HOST`, value: ip });
    out.push({ key: `${name}_SERVICE_PORT`, value: String(ports[0]!.port) });
    for (const p of ports) {
      if (p.name) out.push({ key: `${name}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`, value: String(p.port) });
    }
    const first = ports[0]!;
    const proto = (first.protocol ?? 'TCP').toLowerCase();
    const host = ip.includes(':') ? `[${ip}]` : ip;
    out.push({ key: `${name}_PORT`, value: `${proto}://${host}:${first.port}` });
    for (const p of ports) {
      const pr = p.protocol ?? 'TCP';
      const prefix = `${name}_PORT_${p.port}_${pr.toUpperCase()}`;
      out.push({ key: prefix, value: `${pr.toLowerCase()}://${host}:${p.port}` });
      out.push({ key: `${prefix}_PROTO`, value: pr.toLowerCase() });
      out.push({ key: `${prefix}_PORT`, value: String(p.port) });
      out.push({ key: `${prefix}_ADDR`, value: ip });
    }
  }
  return out;
}

/** Services whose links a pod gets: its namespace's (if enableServiceLinks) plus default/kubernetes. */
export function servicesForPod(pod: Pod, all: Service[]): Service[] {
  const ns = pod.metadata?.namespace ?? 'default';
  const links = pod.spec?.enableServiceLinks ?? true;
  const byName = new Map<string, Service>();
  for (const s of all) {
    const sns = s.metadata?.namespace;
    const name = s.metadata?.name ?? '';
    if (sns === 'default' && name === 'kubernetes') byName.set(name, s);
  }
  if (links) {
    for (const s of all) if (s.metadata?.namespace === ns) {
      const name = s.metadata?.name ?? '';
      // The pod's own namespace wins except for the master service, as upstream.
      if (!(name === 'kubernetes' && byName.has(name) && ns !== 'default')) byName.set(name, s);
    }
  }
  return [...byName.values()];
}

function decode(secret: Secret, key: string): string | undefined {
  const v = secret.data?.[key];
  if (v !== undefined) return Buffer.from(v, 'base64').toString('utf8');
  return secret.stringData?.[key];
}

export function fieldRefValue(pod: Pod, sel: ObjectFieldSelector, src: Pick<EnvSources, 'podIP' | 'podIPs' | 'hostIP' | 'hostIPs'>): string {
  const path = sel.fieldPath;
  const m = pod.metadata ?? {};
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (sub) return (sub[1] === 'labels' ? m.labels : m.annotations)?.[sub[2]!] ?? '';
  switch (path) {
    case 'metadata.name': return m.name ?? '';
    case 'metadata.namespace': return m.namespace ?? '';
    case 'metadata.uid': return m.uid ?? '';
    case 'metadata.labels': return formatMap(m.labels);
    case 'metadata.annotations': return formatMap(m.annotations);
    case 'spec.nodeName': return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP': return src.podIP ?? '';
    case 'status.podIPs': return (src.podIPs ?? (src.podIP ? [src.podIP] : [])).join(',');
    case 'status.hostIP': return src.hostIP ?? '';
    case 'status.hostIPs': return (src.hostIPs ?? (src.hostIP ? [src.hostIP] : [])).join(',');
    default: throw new ConfigError(`unsupported fieldPath: ${path}`);
  }
}

/** The downward API's map format: key="value" lines, sorted (as fieldpath.FormatMap). */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {}).sort().map((k) => `${k}=${JSON.stringify(m![k])}`).join('\n');
}

/** resourceFieldRef as upstream's resource.ExtractContainerResourceValue (limits default to node allocatable). */
export function resourceFieldValue(sel: ResourceFieldSelector, container: Container, alloc: EnvSources['nodeAllocatable'] = {}): string {
  const [kind, name] = sel.resource.split('.') as ['limits' | 'requests', string];
  const fromContainer = container.resources?.[kind]?.[name];
  let q: string | undefined = fromContainer !== undefined ? String(fromContainer) : undefined;
  if (q === undefined && kind === 'limits') q = (alloc as Record<string, string | undefined>)[name];
  if (q === undefined) q = '0';
  const divisor = String(sel.divisor ?? '1');
  if (name === 'cpu') {
    // Rounded up to whole divisors (upstream: ceil(milli / divisorMilli)).
    return String(Math.ceil(quantityMilliValue(q) / (quantityMilliValue(divisor) || 1000)));
  }
  return String(Math.ceil(quantityValue(q) / (quantityValue(divisor) || 1)));
}

/**
 * The environment of one container. Throws ConfigError with upstream's messages for
 * missing (non-optional) sources.
 */
export function makeEnvironment(pod: Pod, container: Container, src: EnvSources): KeyValue[] {
  const ns = pod.metadata?.namespace ?? 'default';
  const result = new Map<string, string>();
  const svc = new Map(serviceEnv(src.services).map((kv) => [kv.key, kv.value]));

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    let data: Record<string, string> | undefined;
    let kind = '';
    if (from.configMapRef) {
      kind = 'configmap';
      const cm = src.configMap(ns, from.configMapRef.name ?? '');
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw new ConfigError(`configmap "${from.configMapRef.name}" not found`);
      }
      data = { ...(cm.data ?? {}) };
      for (const [k, v] of Object.entries(cm.binaryData ?? {})) if (!(k in data)) data[k] = Buffer.from(v, 'base64').toString('utf8');
    } else if (from.secretRef) {
      kind = 'secret';
      const s = src.secret(ns, from.secretRef.name ?? '');
      if (!s) {
        if (from.secretRef.optional) continue;
        throw new ConfigError(`secret "${from.secretRef.name}" not found`);
      }
      data = {};
      for (const k of Object.keys({ ...(s.stringData ?? {}), ...(s.data ?? {}) })) data[k] = decode(s, k) ?? '';
    }
    const invalid: string[] = [];
    for (const [k, v] of Object.entries(data ?? {})) {
      const key = prefix + k;
      if (!ENV_NAME.test(key)) { invalid.push(k); continue; }
      result.set(key, v);
    }
    if (invalid.length) src.onInvalidKey?.(`${kind} ${ns}/${from.configMapRef?.name ?? from.secretRef?.name}`, invalid.sort());
  }

  // Expansion sees what is defined so far, then the service links (upstream MappingFuncFor(tmpEnv, serviceEnv)).
  const lookup = (name: string) => result.get(name) ?? svc.get(name);
  for (const e of container.env ?? []) result.set(e.name, envValue(pod, container, e, src, ns, lookup));

  for (const [k, v] of svc) if (!result.has(k)) result.set(k, v);
  return [...result].map(([key, value]) => ({ key, value }));
}

function envValue(pod: Pod, container: Container, e: EnvVar, src: EnvSources, ns: string, lookup: (n: string) => string | undefined): string {
  if (e.value !== undefined) return expand(e.value, lookup);
  const vf = e.valueFrom;
  if (!vf) return '';
  if (vf.fieldRef) return fieldRefValue(pod, vf.fieldRef, src);
  if (vf.resourceFieldRef) {
    const c = vf.resourceFieldRef.containerName
      ? [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((x) => x.name === vf.resourceFieldRef!.containerName) ?? container
      : container;
    return resourceFieldValue(vf.resourceFieldRef, c, src.nodeAllocatable);
  }
  if (vf.configMapKeyRef) {
    const ref = vf.configMapKeyRef;
    const cm = src.configMap(ns, ref.name ?? '');
    if (!cm) {
      if (ref.optional) return '';
      throw new ConfigError(`configmap "${ref.name}" not found`);
    }
    const v = cm.data?.[ref.key] ?? (cm.binaryData?.[ref.key] !== undefined ? Buffer.from(cm.binaryData[ref.key]!, 'base64').toString('utf8') : undefined);
    if (v === undefined) {
      if (ref.optional) return '';
      throw new ConfigError(`couldn't find key ${ref.key} in ConfigMap ${ns}/${ref.name}`);
    }
    return v;
  }
  if (vf.secretKeyRef) {
    const ref = vf.secretKeyRef;
    const s = src.secret(ns, ref.name ?? '');
    if (!s) {
      if (ref.optional) return '';
      throw new ConfigError(`secret "${ref.name}" not found`);
    }
    const v = decode(s, ref.key);
    if (v === undefined) {
      if (ref.optional) return '';
      throw new ConfigError(`couldn't find key ${ref.key} in Secret ${ns}/${ref.name}`);
    }
    return v;
  }
  return '';
}

/** command/args with `$(VAR)` expanded against the final environment (upstream ExpandContainerCommandAndArgs). */
export function expandCommand(container: Container, env: KeyValue[]): { command?: string[]; args?: string[] } {
  const m = new Map(env.map((kv) => [kv.key, kv.value]));
  const lookup = (n: string) => m.get(n);
  return {
    command: container.command?.map((c) => expand(c, lookup)),
    args: container.args?.map((a) => expand(a, lookup)),
  };
}
