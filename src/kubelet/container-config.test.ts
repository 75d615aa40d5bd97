import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { buildContainerConfig, containerHash, buildSandboxConfig, dnsConfig, milliCPUToQuota, milliCPUToShares, securityContext } from './container-config.js';
import { admit } from './admit.js';

const pod = (over: Partial<NonNullable<Pod['spec']>> = {}): Pod => ({
  metadata: { name: 'web', namespace: 'shop', uid: 'uid-1' },
  spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } } }], ...over },
});

test('cpu shares and quota as upstream', () => {
  assert.equal(milliCPUToShares(0), 2);
  assert.equal(milliCPUToShares(250), 256);
  assert.equal(milliCPUToShares(1000), 1024);
  assert.equal(milliCPUToQuota(0), 0);
  assert.equal(milliCPUToQuota(500), 50_000);
  assert.equal(milliCPUToQuota(5), 1000);
});

test('container config: resources, labels, log path, security context', () => {
  const p = pod({ securityContext: { runAsUser: 1000, fsGroup: 2000 } });
  p.spec!.containers[0]!.securityContext = { runAsUser: 1001, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] } };
  const c = buildContainerConfig({ pod: p, container: p.spec!.containers[0]!, init: false, attempt: 2, env: [], mounts: [], image: 'sha256:x', memoryCapacity: 8 * 2 ** 30 });
  assert.deepEqual(c.linux!.resources, { cpuShares: 256, oomScoreAdj: 993, cpuPeriod: 100_000, cpuQuota: 50_000, memoryLimitInBytes: 128 << 20 });
  assert.equal(c.labels!['io.kubernetes.pod.uid'], 'uid-1');
  assert.equal(c.labels!['io.kubernetes.container.name'], 'c');
  assert.equal(c.logPath, 'c/2.log');
  assert.equal(c.metadata.attempt, 2);
  const sc = c.linux!.securityContext!;
  assert.equal(sc.runAsUser, 1001);
  assert.deepEqual(sc.supplementalGroups, [2000]);
  assert.equal(sc.readonlyRootfs, true);
  assert.equal(sc.noNewPrivs, true);
  assert.deepEqual(sc.capabilities, { addCapabilities: ['CAP_NET_ADMIN'], dropCapabilities: ['ALL'] });
  assert.deepEqual(securityContext(pod({ hostNetwork: true }), { name: 'x' }).namespaceOptions, { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' });
});

test('container config: stdin, stdinOnce and tty as the pod asks (kubectl run -i / -it)', () => {
  const p = pod();
  const cfg = (c: object) => buildContainerConfig({ pod: p, container: { ...p.spec!.containers[0]!, ...c }, init: false, attempt: 0, env: [], mounts: [], image: 'sha256:x', memoryCapacity: 8 * 2 ** 30 });
  assert.deepEqual((({ stdin, stdinOnce, tty }) => ({ stdin, stdinOnce, tty }))(cfg({ stdin: true, stdinOnce: true })), { stdin: true, stdinOnce: true, tty: false });
  // Passed on even though the runc runtime refuses it: a clear StartError, not a shell without a terminal.
  assert.equal(cfg({ stdin: true, tty: true }).tty, true);
});

test('DNS: ClusterFirst search path, None with dnsConfig, hostNetwork falls back to Default', () => {
  assert.deepEqual(dnsConfig(pod(), ['10.43.0.10'], 'cluster.local'), {
    servers: ['10.43.0.10'], searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], options: ['ndots:5'],
  });
  assert.equal(dnsConfig(pod({ hostNetwork: true }), ['10.43.0.10'], 'cluster.local'), undefined);
  assert.deepEqual(dnsConfig(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], options: [{ name: 'ndots', value: '2' }] } }), ['10.43.0.10'], 'cluster.local'),
    { servers: ['1.1.1.1'], searches: [], options: ['ndots:2'] });
  const sb = buildSandboxConfig({ pod: pod({ hostname: 'h1', containers: [{ name: 'c', ports: [{ containerPort: 80, hostPort: 8080 }] }] }), attempt: 0, logDirectory: '/l', clusterDNS: ['10.43.0.10'], clusterDomain: 'cluster.local' });
  assert.equal(sb.hostname, 'h1');
  assert.deepEqual(sb.portMappings, [{ protocol: 'TCP', containerPort: 80, hostPort: 8080 }]);
});

test('admission: host port conflicts and resources, with upstream reasons', () => {
  const hp = (name: string, port: number, ip?: string): Pod => ({ metadata: { name, uid: name }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 80, hostPort: port, hostIP: ip }] }] } });
  const r = admit(hp('b', 8080), [hp('a', 8080)], undefined);
  assert.equal(r?.reason, 'NodePorts');
  assert.match(r!.message, /^Pod was rejected: Predicate NodePorts failed/);
  assert.equal(admit(hp('b', 8081), [hp('a', 8080)], undefined), undefined);
  assert.equal(admit(hp('b', 8080, '127.0.0.1'), [hp('a', 8080, '127.0.0.2')], undefined), undefined);
  const node = { status: { allocatable: { cpu: '1', memory: '1Gi', pods: '110' } } };
  const big = pod();
  big.spec!.containers[0]!.resources = { requests: { cpu: '2' } };
  const out = admit(big, [], node);
  assert.equal(out?.reason, 'OutOfcpu');
  assert.equal(out?.message, "Pod was rejected: Node didn't have enough resource: cpu, requested: 2000, used: 0, capacity: 1000");
  // The admitted pods' requests (remembered per pod object) add up, also when asked again.
  const half = (name: string): Pod => ({ metadata: { name, uid: name }, spec: { containers: [{ name: 'c', resources: { requests: { cpu: '400m' } } }] } });
  const admitted = [half('x'), half('y')];
  assert.equal(admit(half('z'), admitted, node)?.message, "Pod was rejected: Node didn't have enough resource: cpu, requested: 400, used: 800, capacity: 1000");
  assert.equal(admit(half('z'), admitted, node)?.reason, 'OutOfcpu');
  assert.equal(admit(half('z'), admitted.slice(1), node), undefined);
});

test('containerHash: remembered per spec object; equal specs hash alike, a changed copy differently', () => {
  const c = { name: 'app', image: 'busybox', command: ['sleep', '1'], env: [{ name: 'A', value: '1' }] };
  const h = containerHash(c);
  assert.equal(containerHash(c), h);
  assert.equal(containerHash({ env: [{ value: '1', name: 'A' }], command: ['sleep', '1'], image: 'busybox', name: 'app' }), h);
  assert.equal(containerHash({ ...c, resources: { limits: { cpu: '1' } } }), h); // resources change in place (resize), no restart
  assert.notEqual(containerHash({ ...c, image: 'busybox:2' }), h);
});
