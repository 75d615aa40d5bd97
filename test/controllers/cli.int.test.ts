import { createInterface } from 'node:readline';
// `jotasu controller-manager` as its own process (leader election on the
// kube-system/kube-controller-manager Lease), and the controller manager inside
// `jotasu server`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { ConfigMap, Pod } from 'kubernetes-types/core/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { R } from '../../src/api/resources.js';
import { createClientFromKubeconfig, type JotasuApiClient } from '../../src/client/rest.js';
import { startCluster, type Cluster } from '../lib/cluster.js';
import { waitFor } from './helpers.js';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined); });

function deploymentManifest(name: string, replicas: number): string {
  return JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'default' },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
  });
}

async function startedCluster(args: string[]): Promise<{ cluster: Cluster; client: JotasuApiClient }> {
  const cluster = await startCluster({ args });
  cleanups.push(() => cluster.stop());
  const client = createClientFromKubeconfig(cluster.kubeconfig, { qps: 0 });
  cleanups.push(() => client.close());
  return { cluster, client };
}

async function podsOf(client: JotasuApiClient, app: string): Promise<Pod[]> {
  return (await client.resource<Pod>(R.pods).list({ namespace: 'default', labelSelector: `app=${app}` })).items;
}

test('jotasu controller-manager --leader-elect: one leader, the standby takes over', async () => {
  const { cluster, client } = await startedCluster(['--disable', 'controller-manager']);
  const procs: ChildProcess[] = [];
  // Each process logs its leader-election identity (hostname_uuid) when it starts. Pods need
  // their namespace's default ServiceAccount (admission): its controller runs too, and the
  // root CA publisher, which takes the CA from the kubeconfig (no --root-ca-file).
  const spawnCM = (): { proc: ChildProcess; identity: Promise<string> } => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'controller-manager', '--kubeconfig', cluster.kubeconfig, '--leader-elect', '--controllers', 'replicaset,deployment,serviceaccount,root-ca-cert-publisher'],
      { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(p);
    const identity = new Promise<string>((resolve, reject) => {
      createInterface({ input: p.stderr! }).on('line', (line) => {
        const m = /"identity":"([^"]+)"[^\n]*controller manager started/.exec(line);
        if (m) resolve(m[1]!);
      });
      p.once('exit', (code) => reject(new Error(`controller-manager exited (${code}) before logging its identity`)));
    });
    return { proc: p, identity };
  };
  cleanups.push(() => { for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL'); });
  const a = spawnCM();
  const leases = client.resource<Lease>(R.leases);
  const first = await waitFor('a leader', async () => (await leases.get('kube-controller-manager', { namespace: 'kube-system' })).spec?.holderIdentity, 30_000, 200);
  assert.equal(first, await a.identity);
  const b = spawnCM();
  const r = await cluster.kubectl(['create', '-f', '-'], { input: deploymentManifest('cm1', 2) });
  assert.equal(r.code, 0, r.stderr);
  await waitFor('pods created by the leader', async () => (await podsOf(client, 'cm1')).length === 2, 30_000, 200);
  const rootCA = await waitFor('kube-root-ca.crt', async () => (await client.resource<ConfigMap>(R.configmaps).get('kube-root-ca.crt', { namespace: 'default' }).catch(() => undefined))?.data?.['ca.crt'], 30_000, 200);
  assert.equal(rootCA, cluster.tlsOptions().ca);
  // The leader goes away gracefully (releases the lease); the standby takes over.
  a.proc.kill('SIGTERM');
  const standby = await b.identity;
  await waitFor('standby leads', async () => (await leases.get('kube-controller-manager', { namespace: 'kube-system' })).spec?.holderIdentity === standby, 40_000, 200);
  await cluster.kubectl(['scale', 'deployment/cm1', '--replicas=4']);
  await waitFor('new leader scales', async () => (await podsOf(client, 'cm1')).length === 4, 30_000, 200);
  const rss = (await client.resource<ReplicaSet>(R.replicasets).list({ namespace: 'default', labelSelector: 'app=cm1' })).items;
  assert.equal(rss.length, 1);
  b.proc.kill('SIGTERM');
});

test('jotasu server runs the controller manager in-process', async () => {
  const { cluster, client } = await startedCluster([]);
  const r = await cluster.kubectl(['create', '-f', '-'], { input: deploymentManifest('inproc', 3) });
  assert.equal(r.code, 0, r.stderr);
  await waitFor('3 pods', async () => (await podsOf(client, 'inproc')).length === 3, 40_000, 200);
  await waitFor('default service account', async () => !!(await client.resource(R.serviceaccounts).get('default', { namespace: 'default' })), 20_000, 200);
});
