import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, Service } from 'kubernetes-types/core/v1.js';
import { expand, makeEnvironment, serviceEnv, servicesForPod, ConfigError, expandCommand, type EnvSources } from './env.js';

const pod: Pod = {
  metadata: { name: 'p', namespace: 'ns', uid: 'u1', labels: { b: '2', a: '1' } },
  spec: { nodeName: 'n1', serviceAccountName: 'sa', containers: [{ name: 'c', resources: { limits: { memory: '64Mi', cpu: '250m' } } }] },
};

function src(over: Partial<EnvSources> = {}): EnvSources {
  return {
    configMap: (ns, n) => (ns === 'ns' && n === 'cm' ? { data: { A: 'x', 'bad key': 'y', B: 'b' } } : undefined),
    secret: (ns, n) => (n === 's' ? { data: { PASS: Buffer.from('hunter2').toString('base64') } } : undefined),
    services: [], podIP: '10.42.0.5', hostIP: '192.168.1.2', ...over,
  };
}

test('expand: $(VAR), $$ escape, unknown refs stay', () => {
  const m = new Map([['A', '1'], ['B', 'two']]);
  assert.equal(expand('$(A)-$(B)-$(C)-$$(A)-$', (n) => m.get(n)), '1-two-$(C)-$(A)-$');
  assert.equal(expand('$(A', (n) => m.get(n)), '$(A');
});

test('envFrom with prefix, env in order with expansion, valueFrom sources', () => {
  const invalid: string[] = [];
  const c = {
    name: 'c',
    resources: { limits: { memory: '64Mi', cpu: '250m' } },
    envFrom: [{ prefix: 'P_', configMapRef: { name: 'cm' } }],
    env: [
      { name: 'X', value: '$(P_A)/$(Y)' },
      { name: 'Y', value: 'y' },
      { name: 'Z', value: '$(Y)' },
      { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'LBL', valueFrom: { fieldRef: { fieldPath: "metadata.labels['a']" } } },
      { name: 'LBLS', valueFrom: { fieldRef: { fieldPath: 'metadata.labels' } } },
      { name: 'PW', valueFrom: { secretKeyRef: { name: 's', key: 'PASS' } } },
      { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
      { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
    ],
  };
  const env = makeEnvironment(pod, c, src({ onInvalidKey: (_s, k) => invalid.push(...k) }));
  const m = Object.fromEntries(env.map((e) => [e.key, e.value]));
  assert.equal(m.P_A, 'x');
  assert.equal(m.X, 'x/$(Y)');
  assert.equal(m.Z, 'y');
  assert.equal(m.POD, 'p');
  assert.equal(m.IP, '10.42.0.5');
  assert.equal(m.LBL, '1');
  assert.equal(m.LBLS, 'a="1"\nb="2"');
  assert.equal(m.PW, 'hunter2');
  assert.equal(m.MEM, '64');
  assert.equal(m.CPU, '1');
  assert.deepEqual(invalid, ['bad key']);
  assert.deepEqual(expandCommand({ name: 'c', command: ['echo', '$(Y)'], args: ['$(POD)'] }, env), { command: ['echo', 'y'], args: ['p'] });
});

test('missing sources give upstream messages; optional ones are skipped', () => {
  const s = src();
  assert.throws(() => makeEnvironment(pod, { name: 'c', envFrom: [{ configMapRef: { name: 'nope' } }] }, s), new ConfigError('configmap "nope" not found'));
  assert.throws(() => makeEnvironment(pod, { name: 'c', env: [{ name: 'K', valueFrom: { configMapKeyRef: { name: 'cm', key: 'Q' } } }] }, s),
    new ConfigError("couldn't find key Q in ConfigMap ns/cm"));
  assert.throws(() => makeEnvironment(pod, { name: 'c', env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 's', key: 'Q' } } }] }, s),
    new ConfigError("couldn't find key Q in Secret ns/s"));
  assert.throws(() => makeEnvironment(pod, { name: 'c', env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 'x', key: 'Q' } } }] }, s),
    new ConfigError('secret "x" not found'));
  const env = makeEnvironment(pod, { name: 'c', envFrom: [{ configMapRef: { name: 'nope', optional: true } }],
    env: [{ name: 'K', valueFrom: { configMapKeyRef: { name: 'cm', key: 'Q', optional: true } } }] }, s);
  assert.deepEqual(env, [{ key: 'K', value: '' }]);
});

test('service links: upstream variable names; own namespace plus default/kubernetes', () => {
  const svc = (ns: string, name: string, ip: string, ports: NonNullable<Service['spec']>['ports']): Service =>
    ({ metadata: { namespace: ns, name }, spec: { clusterIP: ip, ports } });
  const all = [
    svc('default', 'kubernetes', '10.43.0.1', [{ name: 'https', port: 443, protocol: 'TCP' }]),
    svc('ns', 'web-app', '10.43.0.20', [{ name: 'http', port: 80 }, { name: 'metrics', port: 9090, protocol: 'TCP' }]),
    svc('other', 'x', '10.43.0.30', [{ port: 1 }]),
    svc('ns', 'headless', 'None', [{ port: 1 }]),
  ];
  const vis = servicesForPod(pod, all);
  assert.deepEqual(vis.map((s) => s.metadata?.name).sort(), ['headless', 'kubernetes', 'web-app']);
  const m = Object.fromEntries(serviceEnv(vis).map((e) => [e.key, e.value]));
  assert.equal(m.KUBERNETES_SERVICE_HOST, '10.43.0.1');
  assert.equal(m.KUBERNETES_SERVICE_PORT, '443');
  assert.equal(m.KUBERNETES_SERVICE_PORT_HTTPS, '443');
  assert.equal(m.WEB_APP_PORT, 'tcp://10.43.0.20:80');
  assert.equal(m.WEB_APP_PORT_9090_TCP_ADDR, '10.43.0.20');
  assert.equal(m.WEB_APP_PORT_9090_TCP_PROTO, 'tcp');
  assert.equal(m.HEADLESS_SERVICE_HOST, undefined);
  const noLinks = servicesForPod({ ...pod, spec: { ...pod.spec!, enableServiceLinks: false } }, all);
  assert.deepEqual(noLinks.map((s) => s.metadata?.name), ['kubernetes']);
  // Explicit env wins over a service link of the same name.
  const env = makeEnvironment(pod, { name: 'c', env: [{ name: 'WEB_APP_PORT', value: 'mine' }] }, src({ services: vis }));
  assert.equal(env.find((e) => e.key === 'WEB_APP_PORT')?.value, 'mine');
});
