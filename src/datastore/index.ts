// Picks the datastore backend: embedded SQLite in the data dir by default, real etcd
// when an endpoint is given (k3s: --datastore-endpoint, --datastore-cafile/certfile/keyfile).
import type { Datastore } from './types.js';

export * from './types.js';

export interface OpenDatastoreOptions {
  dataDir: string;
  /** Comma-separated etcd client URLs, e.g. "http://127.0.0.1:2379,http://10.0.0.2:2379". */
  endpoint?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export async function openDatastore(opts: OpenDatastoreOptions): Promise<Datastore> {
  const endpoint = opts.endpoint?.trim();
  if (!endpoint || endpoint.startsWith('sqlite://')) {
    const { openSqliteDatastore } = await import('./sqlite.js');
    return openSqliteDatastore(opts.dataDir);
  }
  const endpoints = endpoint
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const e of endpoints) {
    if (!/^(https?:\/\/)?[^/\s]+$/.test(e.replace(/\/$/, ''))) {
      throw new Error(`datastore endpoint ${JSON.stringify(e)}: expected http(s)://host:port (etcd client URL)`);
    }
  }
  if ((opts.certFile === undefined) !== (opts.keyFile === undefined)) {
    throw new Error('datastore TLS: a client certificate and its key go together (--datastore-certfile with --datastore-keyfile)');
  }
  const { openEtcdDatastore } = await import('./etcd.js');
  return openEtcdDatastore({
    endpoints: endpoints.map((e) => e.replace(/\/$/, '')),
    ca: opts.caFile,
    cert: opts.certFile,
    key: opts.keyFile,
  });
}
