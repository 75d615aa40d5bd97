// An ingress worker process (a cluster worker of `jotasu server`): serves the
// listening sockets it shares with its siblings (SCHED_NONE, the kernel spreads
// connections) with the routing configuration the controller sends it. It opens no
// watches and imports only the data path, to stay small. It exits when the
// controller does (the IPC channel closes), and on 'stop' after draining.
import tls from 'node:tls';
import { logger } from '../util/log.js';
import { IngressProxy } from './proxy.js';
import type { FromWorker, SecretPem, ToWorker } from './ipc.js';

const log = logger('ingress-worker');
const send = (m: FromWorker): void => { process.send?.(m); };
const secrets = new Map<string, SecretPem & { ctx?: tls.SecureContext | null }>();
let proxy: IngressProxy | undefined;
let version = -1;
let stopping = false;

function secureContext(key: string): tls.SecureContext | undefined {
  const s = secrets.get(key);
  if (!s?.cert || !s.key) return undefined;
  if (s.ctx === undefined) {
    try { s.ctx = tls.createSecureContext({ cert: s.cert, key: s.key }); } catch (e) {
      log.warn({ secret: key, err: (e as Error).message }, 'unusable TLS secret');
      s.ctx = null;
    }
  }
  return s.ctx ?? undefined;
}

function apply(c: Extract<ToWorker, { t: 'config' }>['config']): void {
  if (c.version <= version) return;
  // Table and certificates change together, in this one synchronous step.
  for (const k of [...secrets.keys()]) if (!c.secrets.has(k)) secrets.delete(k);
  for (const [k, s] of c.secrets) {
    const have = secrets.get(k);
    if (s.cert !== undefined || s.key !== undefined) secrets.set(k, { ...s });
    else if (!have || have.rv !== s.rv) secrets.set(k, { rv: s.rv }); // should not happen: controller sends PEMs for new versions
  }
  proxy?.setTable(c.table);
  version = c.version;
  send({ t: 'applied', version });
}

async function stop(graceMs: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await proxy?.close(graceMs).catch(() => undefined);
  process.exit(0);
}

process.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'init': {
      proxy = new IngressProxy({ log, secureContext, defaultCert: m.defaultCert, connectTimeoutMs: m.connectTimeoutMs });
      apply(m.config);
      proxy.listen(m.host, m.httpPort, m.httpsPort).then(
        (p) => send({ t: 'listening', http: p.http, https: p.https }),
        (e: NodeJS.ErrnoException) => { send({ t: 'error', code: e.code, message: e.message }); setTimeout(() => process.exit(1), 50); },
      );
      break;
    }
    case 'config': apply(m.config); break;
    case 'stats': send({ t: 'stats', version, requests: proxy?.requests ?? 0, rss: process.memoryUsage.rss() }); break;
    case 'stop': void stop(m.graceMs); break;
  }
});
// The controller is gone (killed, crashed): no orphans. Cluster workers also do this
// on their own; this makes it explicit and independent of that.
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group: let the controller decide when we stop.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => { void stop(5000); });
send({ t: 'hello' });
