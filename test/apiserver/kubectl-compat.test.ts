// Everyday kubectl workflows against a server with scheduled, Running pods (simulated
// nodes), checked against what kubectl prints against kube-apiserver: each assertion
// here is a place where the two once differed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../lib/cluster.js';
import { createClientFromKubeconfig, type JotasuApiClient } from '../../src/client/rest.js';
import { startSimNodes, type SimNodes } from '../../src/sim/nodes.js';

let c: Cluster;
let client: JotasuApiClient;
let nodes: SimNodes;

before(async () => {
  c = await startCluster();
  client = createClientFromKubeconfig(c.kubeconfig, { qps: 0 });
  nodes = await startSimNodes({ client, count: 2, renewIntervalMs: 1000 });
});
after(async () => {
  await nodes?.stop().catch(() => undefined);
  client?.close();
  await c?.stop();
});

const ok = (args: string[], input?: string): Promise<string> => c.kubectlOk(args, { input });
const fails = (args: string[], input?: string): Promise<string> => c.kubectlFails(args, { input });

test('namespaces have no deletecollection: discovery omits it and DELETE on the collection is 405', async () => {
  assert.match(await ok(['api-resources', '-o', 'wide']), /^namespaces\s+ns\s+v1\s+false\s+Namespace\s+create,delete,get,list,patch,update,watch\s*$/m);
  await ok(['create', 'namespace', 'kept']);
  assert.match(await fails(['delete', '--raw', '/api/v1/namespaces']), /Error from server \(MethodNotAllowed\): the server does not allow this method on the requested resource/);
  assert.match(await ok(['get', 'ns', 'kept', '-o', 'jsonpath={.status.phase}']), /^Active$/);
  assert.match(await ok(['delete', 'namespace', 'kept', '--wait=false']), /namespace "kept" deleted/);
});

test('controller events name the controller alone as their source, as kube-controller-manager\'s', async () => {
  await ok(['create', 'deployment', 'evsrc', '--image=nginx:1.27', '--replicas=1']);
  await ok(['rollout', 'status', 'deployment/evsrc', '--timeout=60s']);
  const wide = await ok(['get', 'events', '-o', 'wide', '--field-selector', 'involvedObject.kind=Deployment,involvedObject.name=evsrc']);
  assert.match(wide, /^\S+\s+Normal\s+ScalingReplicaSet\s+deployment\/evsrc\s+deployment-controller\s+Scaled up replica set evsrc-\w+ from 0 to 1\s/m);
  assert.match(await ok(['describe', 'deployment', 'evsrc']), /Normal\s+ScalingReplicaSet\s+\S+\s+deployment-controller\s+Scaled up replica set/);
  await ok(['delete', 'deployment', 'evsrc']);
});

test('cluster-info lists the cluster DNS service, as against k3s', async () => {
  await ok(['wait', '--for=create', 'service/kube-dns', '-n', 'kube-system', '--timeout=30s']);
  const out = await ok(['cluster-info']);
  assert.match(out, /Kubernetes control plane is running at https:\/\/127\.0\.0\.1:\d+\n/);
  assert.match(out, /CoreDNS is running at https:\/\/127\.0\.0\.1:\d+\/api\/v1\/namespaces\/kube-system\/services\/kube-dns:dns\/proxy\n/);
});

test('kubectl create ingress (a protobuf body with inline-embedded rule values)', async () => {
  assert.match(await ok(['create', 'ingress', 'simple', '--rule=foo.com/bar=svc1:8080,tls=my-cert']), /^ingress.networking.k8s.io\/simple created\n$/);
  assert.match(await ok(['get', 'ingress', 'simple']), /^NAME\s+CLASS\s+HOSTS\s+ADDRESS\s+PORTS\s+AGE\nsimple\s+<none>\s+foo\.com\s+(\S+\s+)?80, 443\s+\d+s\n$/);
  assert.equal(await ok(['get', 'ingress', 'simple', '-o', 'jsonpath={.spec.rules[0].http.paths[0].backend.service.name}:{.spec.rules[0].http.paths[0].path}:{.spec.tls[0].secretName}']), 'svc1:/bar:my-cert');
  await ok(['delete', 'ingress', 'simple']);
});

test('ExternalName services get no Endpoints or EndpointSlices, even with a selector', async () => {
  await ok(['create', 'service', 'externalname', 'extn', '--external-name=example.com']); // selector app=extn
  await ok(['run', 'extn-pod', '--image=busybox', '--labels=app=extn', '--', 'sleep', '3600']);
  await ok(['create', 'service', 'clusterip', 'extn-ref', '--tcp=80:80']);
  await ok(['wait', '--for=create', 'endpoints/extn-ref', '--timeout=30s']);
  await new Promise((r) => setTimeout(r, 500));
  assert.match(await fails(['get', 'endpoints', 'extn']), /endpoints "extn" not found/);
  assert.equal(await ok(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=extn', '-o', 'name']), '');
  await ok(['delete', 'pod', 'extn-pod', '--wait=false']);
  await ok(['delete', 'service', 'extn', 'extn-ref']);
});

test('services select by spec.clusterIP and spec.type, as upstream (kube-proxy asks for spec.clusterIP!=None)', async () => {
  await ok(['create', 'service', 'clusterip', 'fs-headless', '--clusterip=None']);
  await ok(['create', 'service', 'nodeport', 'fs-np', '--tcp=80:80']);
  const names = (s: string) => s.trim().split('\n').filter(Boolean).sort();
  assert.deepEqual(names(await ok(['get', 'svc', '--field-selector', 'spec.clusterIP=None', '-o', 'name'])), ['service/fs-headless']);
  assert.deepEqual(names(await ok(['get', 'svc', '--field-selector', 'spec.type=NodePort', '-o', 'name'])), ['service/fs-np']);
  assert.ok(!names(await ok(['get', 'svc', '--field-selector', 'spec.clusterIP!=None', '-o', 'name'])).includes('service/fs-headless'));
  assert.match(await fails(['get', 'svc', '--field-selector', 'spec.ports=80']), /field label not supported: spec.ports/);
  await ok(['delete', 'service', 'fs-headless', 'fs-np']);
});

test('get --raw /metrics: kube-apiserver\'s request, in-flight and storage series in the Prometheus text format', async () => {
  await ok(['get', 'pods', '-n', 'kube-system']);
  await ok(['create', 'configmap', 'metrics-probe', '--from-literal=a=1', '--dry-run=server']);
  const text = await ok(['get', '--raw', '/metrics']);
  assert.match(text, /^# TYPE apiserver_request_total counter$/m);
  assert.match(text, /^apiserver_request_total\{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"\} [1-9]\d*$/m);
  assert.match(text, /^apiserver_request_total\{code="201",component="apiserver",dry_run="All",group="",resource="configmaps",scope="resource",subresource="",verb="POST",version="v1"\} 1$/m);
  assert.match(text, /^apiserver_request_duration_seconds_bucket\{component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1",le="\+Inf"\} [1-9]\d*$/m);
  assert.match(text, /^apiserver_current_inflight_requests\{request_kind="readOnly"\} [1-9]\d*$/m); // this very request
  assert.match(text, /^apiserver_storage_objects\{resource="deployments.apps"\} \d+$/m);
  assert.match(text, /^apiserver_storage_objects\{resource="namespaces"\} [4-9]\d*$/m);
  assert.match(text, /^process_resident_memory_bytes \d+$/m);
});
