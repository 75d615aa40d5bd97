// The ingress controller for bench/network.ts (and the orphan test), in its own process:
// args <backend port> <listen port> [worker processes, default 0: in this process].
// INGRESS_CONTROLLER_MODULE: the controller module to run (the benchmark passes the
// compiled one, as users run it; default the source, through tsx).
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { Ingress, IngressClass } from 'kubernetes-types/networking/v1.js';
import { R } from '../src/api/resources.js';
import type { ApiClient } from '../src/client/types.js';
import { createFakeInformers } from '../test/network/fake-informers.js';

const [port, listen, workers = 0] = process.argv.slice(2).map(Number) as [number, number, number?];
const backends = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const inf = createFakeInformers();
inf.put<IngressClass>(R.ingressclasses, { metadata: { name: 'jotasu', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } }, spec: { controller: 'jotasu.io/ingress-controller' } });
inf.put<Service>(R.services, { metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '10.43.0.80', ports: [{ name: 'http', port: 80 }] } });
inf.put<EndpointSlice>(R.endpointslices, { addressType: 'IPv4', metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } }, ports: [{ name: 'http', port, protocol: 'TCP' }], endpoints: backends.map((ip) => ({ addresses: [ip] })) });
inf.put<Ingress>(R.ingresses, { metadata: { name: 'web', namespace: 'default', creationTimestamp: '2024-01-01T00:00:00Z' }, spec: { rules: [{ host: 'bench.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] } });
const { startIngressController } = await import(process.env.INGRESS_CONTROLLER_MODULE ?? '../src/ingress/controller.js') as typeof import('../src/ingress/controller.js');
const ing = await startIngressController({ client: {} as ApiClient, informers: inf, host: '127.0.0.1', httpPort: listen, workers });
process.send?.({ listening: ing.httpPort, workers: ing.workers?.pids() ?? [] });
process.on('SIGTERM', () => { void ing.stop().then(() => process.exit(0)); });
