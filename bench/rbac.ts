// The authorizer's cost per request (it runs on every one): decisions per second and
// CPU per decision for system:masters, a node (Node authorizer: static rules and its
// graph of --pods pods on --nodes nodes) and service accounts bound in their namespaces,
// with a policy of many roles and bindings; the cost of the first decision after an RBAC
// change (index rebuild + compile); and the node graph's upkeep per pod event.
//   npm run bench:rbac [-- --namespaces 500 --pods 10000 --nodes 1000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatastore } from '../src/datastore/sqlite.js';
import { Registry } from '../src/apiserver/registry.js';
import { PolicyCache, RBAC_GROUP } from '../src/apiserver/rbac/policy-cache.js';
import { rbacAuthorizer } from '../src/apiserver/rbac/authorizer.js';
import { reconcileBootstrapPolicy } from '../src/apiserver/rbac/reconcile.js';
import { authorize, privilegedGroups, type Attributes, type Authorizer, type UserInfo } from '../src/apiserver/auth.js';
import { serverContext } from '../src/apiserver/bootstrap.js';
import { NodeGraph } from '../src/apiserver/node/graph.js';
import { nodeAuthorizer } from '../src/apiserver/node/authorizer.js';
import { authorizationInfo, parseRequestInfo } from '../src/apiserver/request-info.js';
import type { Pod } from 'kubernetes-types/core/v1.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const NAMESPACES = arg('namespaces', 300);
const ROLES_PER_NS = 5;
const CLUSTER_BINDINGS = 200;
const PODS = arg('pods', 10_000);
const NODES = arg('nodes', 1000);

/** A pod as the graph sees it: a service account, an env secret, a configmap volume and a projected secret. */
const benchPod = (i: number, node: string): Pod => ({
  metadata: { name: `pod-${i}`, namespace: `ns-${i % 300}`, uid: `uid-${i}`, labels: { app: `app-${i % 50}` } },
  spec: {
    nodeName: node, serviceAccountName: `sa-${i % 5}`,
    containers: [{ name: 'app', image: 'busybox', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: `db-${i % 100}`, key: 'password' } } }] }],
    volumes: [{ name: 'cfg', configMap: { name: `cfg-${i % 200}` } }, { name: 'tls', projected: { sources: [{ secret: { name: `tls-${i}` } }] } }],
  },
});

const dir = mkdtempSync(join(tmpdir(), 'jotasu-bench-rbac-'));
const ds = await openSqliteDatastore(dir);
const registry = new Registry(ds, { serviceCIDR: '10.43.0.0/16' });
try {
  await registry.start();
  const cache = (r: string) => registry.store(RBAC_GROUP, r)!.cache;
  const policy = new PolicyCache({ roles: cache('roles'), clusterRoles: cache('clusterroles'), roleBindings: cache('rolebindings'), clusterRoleBindings: cache('clusterrolebindings') });
  const graph = new NodeGraph();
  const chain: Authorizer[] = [privilegedGroups, nodeAuthorizer(graph), rbacAuthorizer(policy)];
  for (const ns of ['default', 'kube-system']) await registry.namespaces.create('', { metadata: { name: ns } }, serverContext);
  await reconcileBootstrapPolicy(registry);
  const store = (r: string) => registry.store(RBAC_GROUP, r)!;
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `ns-${n}`;
    await registry.namespaces.create('', { metadata: { name: ns } }, serverContext);
    for (let r = 0; r < ROLES_PER_NS; r++) {
      await store('roles').create(ns, { metadata: { name: `role-${r}` }, rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: [`things-${r}`, 'configmaps'] }, { verbs: ['create'], apiGroups: ['apps'], resources: ['deployments'] }] }, serverContext);
      await store('rolebindings').create(ns, { metadata: { name: `rb-${r}` }, roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name: `role-${r}` }, subjects: [{ kind: 'ServiceAccount', name: `sa-${r}` }, { kind: 'User', apiGroup: RBAC_GROUP, name: `user-${n}-${r}` }] }, serverContext);
    }
  }
  for (let i = 0; i < CLUSTER_BINDINGS; i++) {
    await store('clusterrolebindings').create('', { metadata: { name: `crb-${i}` }, roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'Group', apiGroup: RBAC_GROUP, name: `group-${i}` }] }, serverContext);
  }
  // Wait until the caches hold everything.
  const rev = await ds.currentRevision();
  for (const r of ['roles', 'rolebindings', 'clusterrolebindings', 'clusterroles']) await cache(r).waitFor(rev, 100).catch(() => false);
  await new Promise((r) => setTimeout(r, 500));

  const attrs = (ns: string, verb = 'list', resource = 'configmaps'): Attributes => ({ isResourceRequest: true, verb, group: '', resource, subresource: '', namespace: ns, name: '' });
  async function measure(label: string, n: number, next: (i: number) => [UserInfo, Attributes], expectAllowed: boolean): Promise<void> {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let allowed = 0;
    for (let i = 0; i < n; i++) {
      const [u, a] = next(i);
      if ((await authorize(chain, u, a)).allowed) allowed++;
    }
    const ns = Number(process.hrtime.bigint() - t0);
    const cpu = process.cpuUsage(cpu0);
    if ((allowed === n) !== expectAllowed && !(expectAllowed === false && allowed === 0)) throw new Error(`${label}: ${allowed}/${n} allowed`);
    console.log(`${label.padEnd(58)} ${(ns / n / 1000).toFixed(2).padStart(7)} µs/decision  ${((cpu.user + cpu.system) / n).toFixed(2).padStart(6)} µs CPU  ${Math.round(n / (ns / 1e9)).toLocaleString('en').padStart(10)}/s`);
  }
  const N = 200_000;
  const masters: UserInfo = { name: 'admin', groups: ['system:masters', 'system:authenticated'] };
  const node: UserInfo = { name: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] };
  const sas: UserInfo[] = Array.from({ length: NAMESPACES }, (_, n) => ({ name: `system:serviceaccount:ns-${n}:sa-${n % ROLES_PER_NS}`, groups: ['system:serviceaccounts', `system:serviceaccounts:ns-${n}`, 'system:authenticated'] }));
  const stranger: UserInfo = { name: 'nobody', groups: ['system:authenticated'] };
  console.log(`policy: ${NAMESPACES * ROLES_PER_NS} roles and rolebindings in ${NAMESPACES} namespaces, ${CLUSTER_BINDINGS} extra clusterrolebindings + bootstrap`);
  await measure('system:masters (privileged group)', N, () => [masters, attrs('default', 'delete', 'pods')], true);
  // The node graph: PODS pods spread over NODES nodes.
  const raws = Array.from({ length: PODS }, (_, i) => JSON.stringify(benchPod(i, `n${i % NODES}`)));
  let c0 = process.cpuUsage();
  graph.reset(raws.map((r) => JSON.parse(r) as Pod));
  const resetCpu = process.cpuUsage(c0);
  // Memory: a second graph of the same pods, built after the code is warm, between two settled heaps.
  const gc = (): void => { for (let i = 0; i < 2; i++) (globalThis as { gc?: () => void }).gc?.(); };
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const probe = new NodeGraph();
  for (const r of raws) probe.setPod(JSON.parse(r) as Pod);
  gc();
  const heapMB = (process.memoryUsage().heapUsed - heap0) / 1e6;
  probe.reset([]);
  console.log(`node graph: ${PODS.toLocaleString('en')} pods on ${NODES} nodes (${JSON.stringify(graph.size)}): built in ${((resetCpu.user + resetCpu.system) / 1000).toFixed(0)} ms CPU, heap ${heapMB.toFixed(1)} MB${(globalThis as { gc?: unknown }).gc ? '' : ' (unsettled: run with --expose-gc)'}`);
  const req = (method: string, url: string): Attributes => {
    const u = new URL(url, 'https://x');
    return authorizationInfo(parseRequestInfo(method, u.pathname, u.searchParams), u.searchParams) as Attributes;
  };
  const nodeOf = (i: number): UserInfo => ({ name: `system:node:n${i % NODES}`, groups: ['system:nodes', 'system:authenticated'] });
  const nodes = Array.from({ length: NODES }, (_, i) => nodeOf(i));
  const secretGets = Array.from({ length: PODS }, (_, i) => req('GET', `/api/v1/namespaces/ns-${i % 300}/secrets/tls-${i}`));
  const watchOwnPods = req('GET', '/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3Dn1');
  await measure('node: watch pods, spec.nodeName=itself (Node authorizer)', N, () => [node, watchOwnPods], true);
  await measure('node: list services (static node rules)', N, () => [node, attrs('default', 'list', 'services')], true);
  await measure(`node: get a secret of its pod (graph, ${PODS} pods)`, N, (i) => [nodes[i % PODS % NODES]!, secretGets[i % PODS]!], true);
  await measure('node: get a secret of another node\'s pod (refused, RBAC asked)', N, (i) => [nodes[(i + 1) % PODS % NODES]!, secretGets[i % PODS]!], false);
  // Upkeep: a pod bound (parsed from its stored JSON and added) and deleted.
  const ops = Math.min(PODS, 20_000);
  c0 = process.cpuUsage();
  let t = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) graph.setPod(JSON.parse(raws[i]!) as Pod);
  const bindNs = Number(process.hrtime.bigint() - t);
  const bindCpu = process.cpuUsage(c0);
  c0 = process.cpuUsage();
  t = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) graph.deletePod(`ns-${i % 300}/pod-${i}`);
  const delNs = Number(process.hrtime.bigint() - t);
  const delCpu = process.cpuUsage(c0);
  console.log(`${'node graph: a pod bound (parse + add) / deleted'.padEnd(58)} ${(bindNs / ops / 1000).toFixed(2).padStart(7)} / ${(delNs / ops / 1000).toFixed(2)} µs  ${((bindCpu.user + bindCpu.system) / ops).toFixed(2)} / ${((delCpu.user + delCpu.system) / ops).toFixed(2)} µs CPU`);
  await measure(`service accounts, ${NAMESPACES} namespaces round robin (memo hits)`, N, (i) => [sas[i % NAMESPACES]!, attrs(`ns-${i % NAMESPACES}`)], true);
  await measure('denied: unbound user lists secrets', N, () => [stranger, attrs('default', 'list', 'secrets')], false);
  // After an RBAC change: the index is rebuilt and the subject's rules compiled again.
  const cold = 200;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < cold; i++) {
    policy.invalidate();
    await authorize(chain, sas[i % NAMESPACES]!, attrs(`ns-${i % NAMESPACES}`));
  }
  const cpu = process.cpuUsage(cpu0);
  console.log(`${'first decision after an RBAC change (rebuild)'.padEnd(58)} ${(Number(process.hrtime.bigint() - t0) / cold / 1e6).toFixed(2).padStart(7)} ms/decision  ${((cpu.user + cpu.system) / cold / 1000).toFixed(2)} ms CPU`);
  console.log(`load average: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  policy.close();
} finally {
  registry.close();
  await ds.close();
  rmSync(dir, { recursive: true, force: true });
}
