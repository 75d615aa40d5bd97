// Discovery documents: /api, /apis, per group-version APIResourceLists, and the
// aggregated discovery (apidiscovery.k8s.io/v2) kubectl 1.32 asks for first. Built
// once from the resource table and cached as serialized bytes.
import { createHash } from 'node:crypto';
import { builtinResources, apiVersionOf, verbsOf, type ResourceInfo } from '../api/resources.js';

interface SubInfo { verbs: string[]; kind: string; group: string; version: string }

function subresourceInfo(r: ResourceInfo, sub: string): SubInfo {
  const same = { group: r.group, version: r.version, kind: r.kind };
  switch (sub) {
    case 'status': return { ...same, verbs: ['get', 'patch', 'update'] };
    case 'scale': return { group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] };
    case 'binding': return { group: '', version: 'v1', kind: 'Binding', verbs: ['create'] };
    case 'eviction': return { group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] };
    case 'finalize': return { ...same, verbs: ['update'] };
    case 'log': return { group: '', version: 'v1', kind: 'Pod', verbs: ['get'] };
    case 'exec': case 'attach': case 'portforward': return { group: '', version: 'v1', kind: sub === 'exec' ? 'PodExecOptions' : sub === 'attach' ? 'PodAttachOptions' : 'PodPortForwardOptions', verbs: ['create', 'get'] };
    case 'proxy': return { group: '', version: 'v1', kind: `${r.kind}ProxyOptions`, verbs: ['create', 'delete', 'get', 'patch', 'update'] };
    case 'ephemeralcontainers': return { ...same, verbs: ['get', 'patch', 'update'] };
    case 'token': return { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] };
    default: return { ...same, verbs: ['get'] };
  }
}

function storageVersionHash(r: ResourceInfo): string {
  return createHash('sha256').update(`${apiVersionOf(r)}${r.kind}`).digest().subarray(0, 8).toString('base64');
}

export interface GroupVersion { group: string; version: string; resources: ResourceInfo[] }

/** Group-versions in upstream's order: core first, then groups in resource-table order. */
export function groupVersions(resources: readonly ResourceInfo[] = builtinResources): GroupVersion[] {
  const out: GroupVersion[] = [];
  for (const r of resources) {
    let gv = out.find((g) => g.group === r.group && g.version === r.version);
    if (!gv) { gv = { group: r.group, version: r.version, resources: [] }; out.push(gv); }
    gv.resources.push(r);
  }
  return out;
}

export class Discovery {
  private readonly gvs: GroupVersion[];
  private cache = new Map<string, string>();

  constructor(private readonly serverAddress: () => string, resources: readonly ResourceInfo[] = builtinResources) {
    this.gvs = groupVersions(resources);
  }

  private memo(key: string, build: () => unknown): string {
    let s = this.cache.get(key);
    if (s === undefined) { s = JSON.stringify(build()); this.cache.set(key, s); }
    return s;
  }

  apiVersions(): string {
    return this.memo('api', () => ({
      kind: 'APIVersions', versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: this.serverAddress() }],
    }));
  }

  private apiGroup(group: string): object {
    const versions = this.gvs.filter((g) => g.group === group).map((g) => ({ groupVersion: `${group}/${g.version}`, version: g.version }));
    return { name: group, versions, preferredVersion: versions[0] };
  }

  apiGroupList(): string {
    return this.memo('apis', () => {
      const groups = [...new Set(this.gvs.filter((g) => g.group).map((g) => g.group))];
      return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => this.apiGroup(g)) };
    });
  }

  apiGroupDoc(group: string): string | undefined {
    if (!this.gvs.some((g) => g.group === group && group)) return undefined;
    return this.memo(`group:${group}`, () => ({ kind: 'APIGroup', apiVersion: 'v1', ...this.apiGroup(group) }));
  }

  resourceList(group: string, version: string): string | undefined {
    const gv = this.gvs.find((g) => g.group === group && g.version === version);
    if (!gv) return undefined;
    return this.memo(`rl:${group}/${version}`, () => {
      const resources: object[] = [];
      for (const r of gv.resources) {
        resources.push({
          name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: verbsOf(r),
          ...(r.shortNames ? { shortNames: r.shortNames } : {}),
          ...(r.categories ? { categories: r.categories } : {}),
          ...(r.virtual ? {} : { storageVersionHash: storageVersionHash(r) }),
        });
        for (const sub of r.subresources) {
          const s = subresourceInfo(r, sub);
          resources.push({
            name: `${r.resource}/${sub}`, singularName: '', namespaced: r.namespaced,
            ...(s.group !== r.group || s.version !== r.version ? { group: s.group, version: s.version } : {}),
            kind: s.kind, verbs: s.verbs,
          });
        }
      }
      return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
    });
  }

  /** apidiscovery.k8s.io/v2 (or v2beta1) APIGroupDiscoveryList for /api (core) or /apis. */
  aggregated(core: boolean, version: 'v2' | 'v2beta1'): string {
    return this.memo(`agg:${core}:${version}`, () => {
      const groups = core ? [''] : [...new Set(this.gvs.filter((g) => g.group).map((g) => g.group))];
      const items = groups.map((group) => ({
        metadata: { name: group, creationTimestamp: null },
        versions: this.gvs.filter((g) => g.group === group).map((gv) => ({
          version: gv.version,
          resources: gv.resources.map((r) => ({
            resource: r.resource,
            responseKind: { group: r.group, version: r.version, kind: r.kind },
            scope: r.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: r.singular,
            verbs: verbsOf(r),
            ...(r.shortNames ? { shortNames: r.shortNames } : {}),
            ...(r.categories ? { categories: r.categories } : {}),
            ...(r.subresources.length ? {
              subresources: r.subresources.map((sub) => {
                const s = subresourceInfo(r, sub);
                return { subresource: sub, responseKind: { group: s.group, version: s.version, kind: s.kind }, verbs: s.verbs };
              }),
            } : {}),
          })),
          freshness: 'Current',
        })),
      }));
      return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
    });
  }

  /** True when the group/version is served (for 404s on unknown paths). */
  served(group: string, version: string): boolean {
    return this.gvs.some((g) => g.group === group && g.version === version);
  }
}
