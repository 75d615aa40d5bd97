// The ingress controller: informers on Ingresses, IngressClasses, Services,
// EndpointSlices and Secrets; any change rebuilds the routing table (debounced, so
// a burst costs one rebuild) and swaps it into the proxy; Ingresses of our class get
// status.loadBalancer set to the node address. Creates the `jotasu` IngressClass,
// marked default, at start. With `workers` > 0 the proxy runs in that many worker
// processes (workers.ts) that get each table from here; 0 keeps it in this process.
import tls from 'node:tls';
import type { Secret, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { Ingress, IngressClass } from 'kubernetes-types/networking/v1.js';
import { R } from '../api/resources.js';
import { isStatusError } from '../api/errors.js';
import { createInformerFactory } from '../client/informer.js';
import { objectKey, type ApiClient, type InformerFactory } from '../client/types.js';
import { logger } from '../util/log.js';
import { CLASS_NAME, CONTROLLER_NAME, DEFAULT_CLASS_ANNOTATION, compileRoutes, isOurs, makeBackendResolver, type RouteTable } from './routes.js';
import { IngressProxy } from './proxy.js';
import { selfSignedCert } from './cert.js';
import { IngressWorkers } from './workers.js';

export interface IngressControllerOptions {
  client: ApiClient;
  informers?: InformerFactory;
  /** Address to listen on (default all). */
  host?: string;
  httpPort: number;
  /** Undefined: no HTTPS listener. */
  httpsPort?: number;
  /** Published in status.loadBalancer.ingress[].ip; undefined: status untouched. */
  nodeAddress?: string;
  rebuildDelayMs?: number;
  /** Worker processes serving the traffic; 0 or undefined: serve in this process. */
  workers?: number;
}

export interface RunningIngress {
  httpPort: number;
  httpsPort?: number;
  /** The worker processes, if any. */
  workers?: IngressWorkers;
  /** Rebuilds now; resolves once the proxy (every worker) serves the new table. */
  rebuildNow(): Promise<void>;
  stop(): Promise<void>;
}

const SLICE_BY_SERVICE = 'ingress-service';

export async function startIngressController(o: IngressControllerOptions): Promise<RunningIngress> {
  const log = logger('ingress');
  const ownFactory = !o.informers;
  const f = o.informers ?? createInformerFactory(o.client);
  const ingInf = f.informer<Ingress>(R.ingresses);
  const classInf = f.informer<IngressClass>(R.ingressclasses);
  const svcInf = f.informer<Service>(R.services);
  const sliceInf = f.informer<EndpointSlice>(R.endpointslices);
  const secretInf = f.informer<Secret>(R.secrets);
  sliceInf.addIndexer(SLICE_BY_SERVICE, (s) => {
    const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
    return svc ? [`${s.metadata?.namespace}/${svc}`] : [];
  });

  // TLS contexts, cached per secret resourceVersion.
  const contexts = new Map<string, { rv: string; ctx?: tls.SecureContext }>();
  const secureContext = (key: string): tls.SecureContext | undefined => {
    const s = secretInf.store.get(key);
    if (!s?.data?.['tls.crt'] || !s.data['tls.key']) return undefined;
    const rv = s.metadata?.resourceVersion ?? '';
    const hit = contexts.get(key);
    if (hit && hit.rv === rv) return hit.ctx;
    let ctx: tls.SecureContext | undefined;
    try {
      ctx = tls.createSecureContext({ cert: Buffer.from(s.data['tls.crt'], 'base64'), key: Buffer.from(s.data['tls.key'], 'base64') });
    } catch (e) {
      log.warn({ secret: key, err: (e as Error).message }, 'unusable TLS secret');
    }
    contexts.set(key, { rv, ctx });
    return ctx;
  };

  const defaultCert = await selfSignedCert();
  const host = o.host ?? '0.0.0.0';
  const workers = o.workers ? new IngressWorkers({
    count: o.workers, log, host, httpPort: o.httpPort, httpsPort: o.httpsPort, defaultCert,
    secretPem: (key) => {
      const s = secretInf.store.get(key);
      if (!s?.data?.['tls.crt'] || !s.data['tls.key']) return undefined;
      return { rv: s.metadata?.resourceVersion ?? '', cert: Buffer.from(s.data['tls.crt'], 'base64').toString(), key: Buffer.from(s.data['tls.key'], 'base64').toString() };
    },
  }) : undefined;
  const proxy = workers ? undefined : new IngressProxy({ log, secureContext, defaultCert });
  let timer: NodeJS.Timeout | undefined;
  let waiters: (() => void)[] = [];
  let started = false;
  let tlsSecrets = new Set<string>();
  const statusInFlight = new Set<string>();

  const compile = (): { table: RouteTable; ours: Ingress[] } => {
    const classes = classInf.store.list();
    const ours = ingInf.store.list().filter((i) => isOurs(i, classes));
    const resolve = makeBackendResolver(
      (ns, name) => svcInf.store.get(`${ns}/${name}`),
      (ns, name) => sliceInf.store.byIndex(SLICE_BY_SERVICE, `${ns}/${name}`),
    );
    const table = compileRoutes(ours, resolve);
    tlsSecrets = new Set([...table.tls.values(), ...table.tlsWildcards.values()]);
    return { table, ours };
  };
  const rebuild = (): void => {
    timer = undefined;
    const { table, ours } = compile();
    const ws = waiters;
    waiters = [];
    const applied = proxy ? (proxy.setTable(table), Promise.resolve()) : started ? workers!.publish(table) : Promise.resolve();
    void applied.then(() => { for (const w of ws) w(); });
    if (o.nodeAddress) for (const ing of ours) void updateStatus(ing, o.nodeAddress);
  };
  const schedule = (): void => { if (!timer) timer = setTimeout(rebuild, o.rebuildDelayMs ?? 20); };

  async function updateStatus(ing: Ingress, ip: string): Promise<void> {
    const cur = ing.status?.loadBalancer?.ingress ?? [];
    if (cur.length === 1 && cur[0]!.ip === ip) return;
    const key = objectKey(ing);
    if (statusInFlight.has(key)) return;
    statusInFlight.add(key);
    try {
      await o.client.resource<Ingress>(R.ingresses).patch(ing.metadata!.name!, 'merge',
        { status: { loadBalancer: { ingress: [{ ip }] } } }, { namespace: ing.metadata!.namespace, subresource: 'status' });
    } catch (e) {
      if (!isStatusError(e, 'NotFound')) log.warn({ ingress: key, err: (e as Error).message }, 'status update failed');
    } finally { statusInFlight.delete(key); }
  }

  const h = { onAdd: schedule, onUpdate: (a: unknown, b: unknown) => { if (a !== b) schedule(); }, onDelete: schedule };
  for (const inf of [ingInf, classInf, svcInf, sliceInf]) inf.addEventHandler(h);
  // Secrets matter only when a TLS section names them (in process, contexts are looked
  // up per handshake; workers get the PEMs with the table).
  const onSecret = (sec: Secret): void => { if (tlsSecrets.has(objectKey(sec))) schedule(); };
  secretInf.addEventHandler({ onAdd: onSecret, onUpdate: (a, b) => { if (a !== b) onSecret(b); }, onDelete: onSecret });
  if (ownFactory) f.start();
  await ensureIngressClass(o.client, log);
  await f.waitForSync();
  let ports: { http: number; https?: number };
  if (workers) {
    ports = await workers.start(compile().table);
    started = true;
    rebuild();
  } else {
    rebuild();
    ports = await proxy!.listen(host, o.httpPort, o.httpsPort);
  }
  log.info({ http: ports.http, https: ports.https, workers: workers ? o.workers : 0 }, 'ingress controller listening');
  return {
    httpPort: ports.http, httpsPort: ports.https, workers,
    rebuildNow: () => new Promise<void>((r) => { waiters.push(r); schedule(); }),
    async stop() {
      if (timer) clearTimeout(timer);
      await (workers ? workers.stop() : proxy!.close());
      if (ownFactory) f.stop();
    },
  };
}

/** The `jotasu` IngressClass, default for Ingresses that name no class. */
export async function ensureIngressClass(client: ApiClient, log = logger('ingress')): Promise<void> {
  const ic: IngressClass = {
    apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass',
    metadata: { name: CLASS_NAME, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
    spec: { controller: CONTROLLER_NAME },
  };
  try {
    await client.resource<IngressClass>(R.ingressclasses).create(ic);
    log.info({ name: CLASS_NAME }, 'created the default IngressClass');
  } catch (e) {
    if (!isStatusError(e, 'AlreadyExists')) log.warn({ err: (e as Error).message }, 'could not create the IngressClass');
  }
}
