import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Ingress, IngressClass, HTTPIngressPath } from 'kubernetes-types/networking/v1.js';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { compileRoutes, isOurs, makeBackendResolver, prefixMatches, route, tlsSecretFor, type Backend } from './routes.js';

const p = (path: string, svc: string, pathType = 'Prefix'): HTTPIngressPath => ({ path, pathType, backend: { service: { name: svc, port: { number: 80 } } } });
const ing = (name: string, spec: Ingress['spec'], created = '2024-01-01T00:00:00Z', extra: Partial<Ingress['metadata']> = {}): Ingress =>
  ({ metadata: { name, namespace: 'default', creationTimestamp: created, ...extra }, spec });
// Backends named after their service, so routes are easy to read.
const resolve = (_ns: string, b: { service?: { name: string } }): Backend => ({ id: b.service?.name ?? '?', targets: [], next: 0 });
const to = (t: ReturnType<typeof compileRoutes>, host: string, path: string) => route(t, host, path)?.id;

test('Prefix is element-wise, longest wins, Exact wins ties, trailing slash ignored', () => {
  const t = compileRoutes([ing('a', { rules: [{ host: 'h.com', http: { paths: [
    p('/', 'root'), p('/foo', 'foo'), p('/foo/bar/', 'foobar'), p('/foo', 'fooexact', 'Exact'), p('/x', 'xspec', 'ImplementationSpecific'),
  ] } }] })], resolve);
  assert.equal(to(t, 'h.com', '/'), 'root');
  assert.equal(to(t, 'h.com', '/foo'), 'fooexact');
  assert.equal(to(t, 'h.com', '/foo/'), 'foo');
  assert.equal(to(t, 'h.com', '/foobar'), 'root');
  assert.equal(to(t, 'h.com', '/foo/bar'), 'foobar');
  assert.equal(to(t, 'h.com', '/foo/bar/baz'), 'foobar');
  assert.equal(to(t, 'h.com', '/foo/barn'), 'foo');
  assert.equal(to(t, 'h.com', '/x/y'), 'xspec');
  assert.ok(prefixMatches('/aaa/bbb', '/aaa/bbb/'));
  assert.ok(!prefixMatches('/aaa/bbb', '/aaa/bbbxyz'));
});

test('hosts: exact, then *. wildcard (one label), then rules without host, then defaultBackend, else none', () => {
  const t = compileRoutes([
    ing('a', { rules: [{ host: 'foo.bar.com', http: { paths: [p('/', 'exact')] } }, { host: '*.bar.com', http: { paths: [p('/', 'wild')] } }] }),
    ing('b', { rules: [{ http: { paths: [p('/any', 'anyhost')] } }] }),
  ], resolve);
  assert.equal(to(t, 'foo.bar.com', '/'), 'exact');
  assert.equal(to(t, 'baz.bar.com', '/'), 'wild');
  assert.equal(to(t, 'a.baz.bar.com', '/'), undefined);
  assert.equal(to(t, 'bar.com', '/'), undefined);
  assert.equal(to(t, 'other.com', '/any/x'), 'anyhost');
  assert.equal(to(t, 'other.com', '/'), undefined);
  const d = compileRoutes([ing('d', { defaultBackend: { service: { name: 'def', port: { number: 80 } } }, rules: [{ host: 'x.com', http: { paths: [p('/a', 'a')] } }] })], resolve);
  assert.equal(to(d, 'x.com', '/b'), 'def');
  assert.equal(to(d, 'nope.com', '/'), 'def');
});

test('conflicts: the older Ingress wins', () => {
  const t = compileRoutes([
    ing('new', { rules: [{ host: 'h', http: { paths: [p('/', 'newer')] } }] }, '2024-02-01T00:00:00Z'),
    ing('old', { rules: [{ host: 'h', http: { paths: [p('/', 'older')] } }] }, '2024-01-01T00:00:00Z'),
  ], resolve);
  assert.equal(to(t, 'h', '/'), 'older');
});

test('TLS hosts map to secrets, with wildcards', () => {
  const t = compileRoutes([ing('t', { tls: [{ hosts: ['a.com', '*.b.com'], secretName: 's1' }] })], resolve);
  assert.equal(tlsSecretFor(t, 'A.com'), 'default/s1');
  assert.equal(tlsSecretFor(t, 'x.b.com'), 'default/s1');
  assert.equal(tlsSecretFor(t, 'c.com'), undefined);
});

test('class selection: ours by name, default class for class-less, others ignored', () => {
  const classes: IngressClass[] = [
    { metadata: { name: 'jotasu', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } }, spec: { controller: 'jotasu.io/ingress-controller' } },
    { metadata: { name: 'nginx' }, spec: { controller: 'k8s.io/ingress-nginx' } },
  ];
  assert.ok(isOurs(ing('a', { ingressClassName: 'jotasu' }), classes));
  assert.ok(isOurs(ing('a', {}), classes));
  assert.ok(!isOurs(ing('a', { ingressClassName: 'nginx' }), classes));
  assert.ok(!isOurs(ing('a', {}, undefined, { annotations: { 'kubernetes.io/ingress.class': 'nginx' } }), classes));
  assert.ok(!isOurs(ing('a', {}), [classes[1]!]));
});

test('backends: service port (number or name) -> slice port of the same name -> ready endpoints', () => {
  const svc: Service = { metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ name: 'http', port: 80, targetPort: 'web' }, { name: 'admin', port: 9000 }] } };
  const sl: EndpointSlice = {
    addressType: 'IPv4', metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'admin', port: 9001, protocol: 'TCP' }],
    endpoints: [{ addresses: ['10.42.0.3'] }, { addresses: ['10.42.0.2'], conditions: { ready: true } }, { addresses: ['10.42.0.4'], conditions: { ready: false } }],
  };
  const r = makeBackendResolver((ns, n) => (n === 'web' ? svc : undefined), () => [sl]);
  assert.deepEqual(r('default', { service: { name: 'web', port: { number: 80 } } }).targets, [{ host: '10.42.0.2', port: 8080 }, { host: '10.42.0.3', port: 8080 }]);
  assert.deepEqual(r('default', { service: { name: 'web', port: { name: 'admin' } } }).targets.map((t) => t.port), [9001, 9001]);
  assert.match(r('default', { service: { name: 'nope', port: { number: 80 } } }).problem!, /not found/);
  assert.match(r('default', { service: { name: 'web', port: { number: 81 } } }).problem!, /no port 81/);
});
