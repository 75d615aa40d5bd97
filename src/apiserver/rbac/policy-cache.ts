// The RBAC objects as the authorizer sees them: read from the API server's watch caches
// of roles, clusterroles, rolebindings and clusterrolebindings (no datastore read per
// request), indexed once per change, and each subject's rules compiled once per
// (subject, namespace) until the next RBAC change (upstream's rule resolver over
// informer listers, plus a memo, since this runs on every request).
import type { ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject } from 'kubernetes-types/rbac/v1.js';
import type { UserInfo } from '../auth.js';
import type { WatchCache, CacheWatcher } from '../watch-cache.js';
import { compileRule, type CompiledRule } from './rules.js';
import { logger } from '../../util/log.js';

const log = logger('apiserver.rbac');

export const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** The rules a subject holds in one scope, and what could not be resolved on the way. */
export interface ResolvedRules {
  rules: CompiledRule[];
  raw: PolicyRule[];
  /** Bindings whose role is missing: upstream's resolution errors. */
  errors: string[];
}

interface Index {
  roles: Map<string, PolicyRule[]>; // ns/name
  clusterRoles: Map<string, PolicyRule[]>;
  clusterRoleBindings: ClusterRoleBinding[];
  roleBindings: Map<string, RoleBinding[]>; // by namespace
}

export interface PolicySources {
  roles: WatchCache;
  clusterRoles: WatchCache;
  roleBindings: WatchCache;
  clusterRoleBindings: WatchCache;
}

const EMPTY: ResolvedRules = { rules: [], raw: [], errors: [] };
/** Memo bound: the subjects seen between two RBAC changes (users × namespaces). */
const MAX_MEMO = 10_000;

/** upstream appliesToUser: a User by name, a Group by membership, a ServiceAccount by its user name. */
export function subjectApplies(user: UserInfo, s: Subject, bindingNamespace: string): boolean {
  switch (s.kind) {
    case 'User': return user.name === s.name;
    case 'Group': return user.groups.includes(s.name);
    case 'ServiceAccount': {
      const ns = s.namespace || bindingNamespace;
      return !!ns && user.name === `system:serviceaccount:${ns}:${s.name}`;
    }
    default: return false;
  }
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} ${JSON.stringify(`${s.name}/${s.namespace || bindingNamespace}`)}`;
  return `${s.kind} ${JSON.stringify(s.name)}`;
}

export class PolicyCache {
  private index?: Index;
  private memo = new Map<string, ResolvedRules>();
  /** Bumped on every RBAC change; callers memoizing on top of this compare it. */
  generation = 0;
  private readonly watchers: { cache: WatchCache; w: CacheWatcher }[] = [];
  private closed = false;

  constructor(private readonly src: PolicySources) {
    for (const cache of Object.values(src) as WatchCache[]) this.watch(cache);
  }

  /** Every event of the four caches invalidates the index and the memo. */
  private watch(cache: WatchCache): void {
    const w: CacheWatcher = {
      keyPrefix: '',
      onEvent: () => this.invalidate(),
      onBookmark: () => undefined,
      // The cache rebuilds after losing its datastore watch (its items re-listed without
      // events): watch again once it is back, and drop what was built meanwhile. The cache
      // replaces its ready promise right after terminating its watchers, hence the microtask.
      terminate: () => {
        this.invalidate();
        if (this.closed) return;
        queueMicrotask(() => void cache.ready().then(() => { if (!this.closed) cache.addWatcher(w, undefined, false); this.invalidate(); },
          (e: Error) => log.error({ prefix: cache.prefix, err: e.message }, 'RBAC cache did not come back')));
      },
    };
    void cache.ready().then(() => { if (!this.closed) { cache.addWatcher(w, undefined, false); this.invalidate(); } });
    this.watchers.push({ cache, w });
  }

  invalidate(): void {
    this.index = undefined;
    this.memo.clear();
    this.generation++;
  }

  close(): void {
    this.closed = true;
    for (const { cache, w } of this.watchers) cache.removeWatcher(w);
  }

  private build(): Index {
    const objs = <T>(c: WatchCache): T[] => [...c.items.values()].map((e) => e.obj as T);
    const roles = new Map<string, PolicyRule[]>();
    for (const r of objs<Role>(this.src.roles)) roles.set(`${r.metadata?.namespace}/${r.metadata?.name}`, r.rules ?? []);
    const clusterRoles = new Map<string, PolicyRule[]>();
    for (const r of objs<ClusterRole>(this.src.clusterRoles)) clusterRoles.set(r.metadata!.name!, r.rules ?? []);
    const roleBindings = new Map<string, RoleBinding[]>();
    for (const b of objs<RoleBinding>(this.src.roleBindings)) {
      const ns = b.metadata!.namespace!;
      let l = roleBindings.get(ns);
      if (!l) roleBindings.set(ns, (l = []));
      l.push(b);
    }
    // Sorted by name: a stable order for "allowed by" reasons and rules reviews.
    const byName = (a: { metadata?: { name?: string } }, b: { metadata?: { name?: string } }) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1);
    for (const l of roleBindings.values()) l.sort(byName);
    const clusterRoleBindings = objs<ClusterRoleBinding>(this.src.clusterRoleBindings).sort(byName);
    return { roles, clusterRoles, clusterRoleBindings, roleBindings };
  }

  private get idx(): Index {
    return (this.index ??= this.build());
  }

  /** The rules a role reference grants, or upstream's lister error when the role is missing. */
  roleRefRules(ref: RoleRef, bindingNamespace: string): PolicyRule[] | { error: string } {
    if (ref.kind === 'Role') {
      const r = this.idx.roles.get(`${bindingNamespace}/${ref.name}`);
      return r ?? { error: `role.${RBAC_GROUP} ${JSON.stringify(ref.name)} not found` };
    }
    if (ref.kind === 'ClusterRole') {
      const r = this.idx.clusterRoles.get(ref.name);
      return r ?? { error: `clusterrole.${RBAC_GROUP} ${JSON.stringify(ref.name)} not found` };
    }
    return { error: `unsupported role reference kind: ${JSON.stringify(ref.kind)}` };
  }

  private resolve(user: UserInfo, bindings: (RoleBinding | ClusterRoleBinding)[], namespace: string): ResolvedRules {
    const out: ResolvedRules = { rules: [], raw: [], errors: [] };
    for (const b of bindings) {
      const subject = (b.subjects ?? []).find((s) => subjectApplies(user, s, namespace));
      if (!subject) continue;
      const rules = this.roleRefRules(b.roleRef, namespace);
      if ('error' in rules) { out.errors.push(rules.error); continue; }
      const source = namespace
        ? `RoleBinding ${JSON.stringify(`${b.metadata!.name}/${namespace}`)} of ${b.roleRef.kind} ${JSON.stringify(b.roleRef.name)} to ${describeSubject(subject, namespace)}`
        : `ClusterRoleBinding ${JSON.stringify(b.metadata!.name)} of ${b.roleRef.kind} ${JSON.stringify(b.roleRef.name)} to ${describeSubject(subject, '')}`;
      for (const r of rules) { out.rules.push(compileRule(r, source)); out.raw.push(r); }
    }
    return out;
  }

  private memoized(key: string, build: () => ResolvedRules): ResolvedRules {
    let r = this.memo.get(key);
    if (!r) {
      if (this.memo.size >= MAX_MEMO) this.memo.clear();
      r = build();
      this.memo.set(key, r);
    }
    return r;
  }

  /** Rules from ClusterRoleBindings (apply everywhere). */
  clusterRules(user: UserInfo): ResolvedRules {
    const key = `\u0000${user.name}\u0000${user.groups.join('\u0000')}`;
    return this.memoized(key, () => this.resolve(user, this.idx.clusterRoleBindings, ''));
  }

  /** Rules from the RoleBindings of one namespace. */
  namespaceRules(user: UserInfo, namespace: string): ResolvedRules {
    if (!namespace) return EMPTY;
    const bindings = this.idx.roleBindings.get(namespace);
    if (!bindings) return EMPTY;
    const key = `${namespace}\u0000${user.name}\u0000${user.groups.join('\u0000')}`;
    return this.memoized(key, () => this.resolve(user, bindings, namespace));
  }

  /** Everything the user may do in a namespace ('' for cluster scope), as upstream RulesFor. */
  rulesFor(user: UserInfo, namespace: string): { rules: PolicyRule[]; errors: string[] } {
    const c = this.clusterRules(user);
    const n = this.namespaceRules(user, namespace);
    return { rules: [...c.raw, ...n.raw], errors: [...c.errors, ...n.errors] };
  }
}
