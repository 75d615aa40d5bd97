// Acceptance of service networking on a real node (test/kubelet/env.ts: jotasu server,
// a jotasu agent with its proxy, runc pods on a CNI bridge): the seed's manifests,
// cluster DNS through the kube-dns service, load balancing over three replicas, the
// Ingress (controller run in this process on a free port against the same cluster),
// a pod deletion without failed requests afterwards, NodePort, headless.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { startKubeletEnv, kubectlApply, type KubeletEnv } from '../kubelet/env.js';
import { R } from '../../src/api/resources.js';
import { LABEL_CONTAINER_NAME, LABEL_POD_UID } from '../../src/kubelet/container-config.js';
import { defaultNodeIP } from '../../src/kubelet/node-status.js';

const root = process.getuid?.() === 0;


/**
 * `wget -qO- http://<name>` as a pod does it: busybox's wget resolves the name itself
 * (glibc's built-in files/dns NSS: /etc/resolv.conf, the search path, the cluster DNS).
 * The time limit is busybox's `timeout`, not `wget -T`: Debian's busybox-static 1.35 is
 * built without FEATURE_WGET_TIMEOUT yet still parses -T, into a NULL pointer, so
 * `wget -T 3 ...` segfaults before doing anything (on the host as well).
 */
const fetchByName = (name: string): string => `timeout 5 wget -qO- http://${name}`;
let env: KubeletEnv;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ready = (p: Pod) => p.status?.phase === 'Running' && p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

before(async () => { if (root) env = await startKubeletEnv(); }, { timeout: 180_000 });
after(async () => { await env?.stop(); });

function execIn(pod: Pod, container: string, cmd: string[], timeout = 30_000): string {
  const dir = join(env.agentDir, 'agent', 'containers');
  for (const id of readdirSync(dir)) {
    const rec = JSON.parse(readFileSync(join(dir, id, 'container.json'), 'utf8')) as { config: { labels: Record<string, string> } };
    if (rec.config.labels[LABEL_POD_UID] !== pod.metadata!.uid || rec.config.labels[LABEL_CONTAINER_NAME] !== container) continue;
    try { return execFileSync('runc', ['--root', join(env.runDir, 'runc'), 'exec', id, ...cmd], { encoding: 'utf8', timeout }); } catch (e) {
      const out = (e as { stdout?: string }).stdout;
      if (out) return out;
    }
  }
  throw new Error(`no running container ${container} in ${pod.metadata!.name}`);
}

/** GET http://NODE:port/ with a Host header, as `curl -H 'Host: ...' http://NODE/` does. */
function httpGet(port: number, host: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: defaultNodeIP(), port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
}

/** A busybox pod serving its own name on :80 (a replica that tells who answered). */
function replica(name: string): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'my-webapp' } },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [{
        name: 'web', image: env.busybox, imagePullPolicy: 'IfNotPresent', ports: [{ containerPort: 80, name: 'http' }],
        command: ['sh', '-c', `mkdir -p /www && echo "replica ${name}" > /www/index.html && exec httpd -f -p 80 -h /www`],
        readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 1 },
      }],
    },
  };
}

async function waitSlice(pred: (ips: string[]) => boolean, svc = 'webapp-service', timeoutMs = 30_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await env.client.resource<EndpointSlice>(R.endpointslices).list({ namespace: 'default', labelSelector: `kubernetes.io/service-name=${svc}` });
    const ips = list.items.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses));
    if (pred(ips)) return ips;
    if (Date.now() > deadline) throw new Error(`endpoints of ${svc}: ${ips.join(',')}`);
    await sleep(200);
  }
}

test('service networking end to end: seed manifests, DNS, load balancing, ingress, pod deletion, NodePort, headless', { skip: !root && 'needs root', timeout: 300_000 }, async () => {
  const docs = parseAllDocuments(readFileSync('/work/shared/seed/webapp.yaml', 'utf8')).map((d) => d.toJSON() as Record<string, unknown>);
  const pod = docs.find((d) => d.kind === 'Pod') as unknown as Pod;
  const web = pod.spec!.containers.find((c) => c.name === 'webapp')!;
  web.image = env.nginx;
  web.imagePullPolicy = 'IfNotPresent';
  web.readinessProbe = { httpGet: { path: '/', port: 80 }, periodSeconds: 1 };
  const db = pod.spec!.containers.find((c) => c.name === 'database')!;
  db.image = env.busybox;
  db.command = ['sh', '-c', 'while true; do echo mongo | nc -l -p 27017 >/dev/null; done'];
  pod.spec!.terminationGracePeriodSeconds = 2;
  for (const d of docs) if (d.kind !== 'Pod') await kubectlApply(env, JSON.stringify(d));
  await kubectlApply(env, JSON.stringify(pod));
  for (const r of [replica('webapp-2'), replica('webapp-3')]) await kubectlApply(env, JSON.stringify(r));
  const client: Pod = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client' },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: env.busybox, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  };
  await kubectlApply(env, JSON.stringify(client));
  const [, , , cl] = await Promise.all(['webapp-with-db', 'webapp-2', 'webapp-3', 'client'].map((n) => env.waitPod(n, ready, 90_000)));
  await waitSlice((ips) => ips.length === 3);

  // From another pod, by short name (search path) and by FQDN, through cluster DNS and the proxy.
  const short = execIn(cl!, 'c', ['sh', '-c', `for i in 1 2 3 4 5 6 7 8 9 10; do ${fetchByName('webapp-service')} && break; sleep 0.5; done`]);
  if (!/jotasu nginx|replica webapp-/.test(short)) {
    const svcIP = (await env.client.resource<Service>(R.services).get('webapp-service', { namespace: 'default' })).spec?.clusterIP;
    const diag = [
      execIn(cl!, 'c', ['sh', '-c', 'cat /etc/resolv.conf; nslookup webapp-service.default.svc.cluster.local ' + env.cluster.clusterDns + ' 2>&1']),
      execIn(cl!, 'c', ['sh', '-c', `timeout 3 wget -qO- http://${svcIP}/ 2>&1 | head -c 300`]),
      execFileSync('sh', ['-c', `iptables-save -t nat | grep -E "${env.cluster.chainPrefix}-" | grep -v kube-dns | head -60; nft list table ip ${env.cluster.chainPrefix}-proxy 2>/dev/null | head -80`], { encoding: 'utf8' }),
      execIn(cl!, 'c', ['sh', '-c', `ip addr; ip route; timeout 3 wget -qO- http://${(await env.client.resource<Pod>(R.pods).get('webapp-2', { namespace: 'default' })).status?.podIP}/ 2>&1 | head -c 300`]),
      env.agentLogs().split('\n').filter((l) => /proxy|informer|watch|error/i.test(l)).slice(-15).join('\n'),
      env.cluster.logs().split('\n').filter((l) => /dns|informer|watch/i.test(l)).slice(-15).join('\n'),
    ];
    assert.fail(`no answer through the service name:\n${diag.join('\n---\n')}`);
  }
  const fqdn = execIn(cl!, 'c', ['sh', '-c', fetchByName('webapp-service.default.svc.cluster.local')]);
  assert.match(fqdn, /jotasu nginx|replica webapp-/);
  // Three replicas, all reached.
  const many = execIn(cl!, 'c', ['sh', '-c', `for i in $(seq 40); do ${fetchByName('webapp-service.default')} | head -c 200 | grep -o "jotasu nginx\\|replica webapp-[0-9]" | head -1; done`]);
  const seen = new Set(many.split('\n').filter(Boolean));
  assert.deepEqual([...seen].sort(), ['jotasu nginx', 'replica webapp-2', 'replica webapp-3']);

  // The ConfigMap reached the webapp's environment (envFrom).
  const webPod = await env.client.resource<Pod>(R.pods).get('webapp-with-db', { namespace: 'default' });
  assert.match(execIn(webPod, 'webapp', ['env']), /^WEBAPP_ENV=production$/m);

  // The Ingress (the seed's rule for mywebapp.example.com) through the server's own
  // ingress controller, on the node address and the port this test cluster was given.
  const ingressPort = env.cluster.ingressHttpPort;
  let viaIngress = { status: 0, body: '' };
  for (let i = 0; i < 50 && viaIngress.status !== 200; i++) {
    viaIngress = await httpGet(ingressPort, 'mywebapp.example.com').catch((e: Error) => ({ status: -1, body: e.message }));
    if (viaIngress.status !== 200) await sleep(100);
  }
  assert.equal(viaIngress.status, 200, viaIngress.body);
  assert.match(viaIngress.body, /jotasu nginx|replica webapp-/);
  assert.equal((await httpGet(ingressPort, 'unknown.example.com')).status, 404);

  // Delete a replica: once the endpoints say so, no request fails and none reaches it.
  await env.client.resource<Pod>(R.pods).delete('webapp-3', { namespace: 'default' });
  await waitSlice((ips) => ips.length === 2);
  await sleep(1000); // the proxy's sync (rate-limited at 100 ms) and the ingress rebuild
  const after = execIn(cl!, 'c', ['sh', '-c', `for i in $(seq 30); do (${fetchByName('webapp-service')}) | head -c 200 | grep -o "jotasu nginx\\|replica webapp-[0-9]" | head -1 | grep . || echo FAILED; done`]);
  const lines = after.split('\n').filter(Boolean);
  assert.equal(lines.length, 30);
  assert.ok(!lines.includes('FAILED'), after);
  assert.ok(!lines.includes('replica webapp-3'));
  for (let i = 0; i < 10; i++) {
    const r = await httpGet(ingressPort, 'mywebapp.example.com');
    assert.equal(r.status, 200);
    assert.doesNotMatch(r.body, /webapp-3/);
  }

  // NodePort on the node's address, from the node itself.
  const np: Service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'webapp-nodeport' }, spec: { type: 'NodePort', selector: { app: 'my-webapp' }, ports: [{ port: 80, targetPort: 80 }] } };
  await kubectlApply(env, JSON.stringify(np));
  const created = await env.client.resource<Service>(R.services).get('webapp-nodeport', { namespace: 'default' });
  const nodePort = created.spec!.ports![0]!.nodePort!;
  await waitSlice((ips) => ips.length === 2, 'webapp-nodeport');
  let npBody = '';
  for (let i = 0; i < 20 && !npBody; i++) {
    try { npBody = execFileSync('curl', ['-s', '-m', '2', `http://${defaultNodeIP()}:${nodePort}/`], { encoding: 'utf8' }); } catch { await sleep(200); }
  }
  assert.match(npBody, /jotasu nginx|replica webapp-/);

  // Headless: DNS returns the pod IPs.
  const hl: Service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'webapp-headless' }, spec: { clusterIP: 'None', selector: { app: 'my-webapp' }, ports: [{ port: 80 }] } };
  await kubectlApply(env, JSON.stringify(hl));
  const podIPs = await waitSlice((ips) => ips.length === 2, 'webapp-headless');
  await sleep(500);
  const ns = execIn(cl!, 'c', ['nslookup', 'webapp-headless.default.svc.cluster.local']);
  for (const ip of podIPs) assert.match(ns, new RegExp(ip.replace(/\./g, '\\.')));
});
