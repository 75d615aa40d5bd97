// Messages between the ingress controller and its worker processes (cluster IPC with
// 'advanced' serialization, so Maps and shared Backend objects survive the trip).
import type { RouteTable } from './routes.js';

/** A TLS secret's PEMs; sent to a worker only when it does not have this version yet. */
export interface SecretPem { rv: string; cert?: string; key?: string }

/** One routing configuration, applied by a worker in one step. */
export interface WorkerConfig {
  version: number;
  table: RouteTable;
  /** Every secret the table references, by "ns/name": the rv, plus PEMs if new to this worker. */
  secrets: Map<string, SecretPem>;
}

export type ToWorker =
  | { t: 'init'; host: string; httpPort: number; httpsPort?: number; defaultCert: { certPem: string; keyPem: string }; connectTimeoutMs?: number; config: WorkerConfig }
  | { t: 'config'; config: WorkerConfig }
  | { t: 'stats' }
  | { t: 'stop'; graceMs: number };

export type FromWorker =
  | { t: 'hello' }
  | { t: 'listening'; http: number; https?: number }
  | { t: 'error'; code?: string; message: string }
  | { t: 'applied'; version: number }
  | { t: 'stats'; version: number; requests: number; rss: number };
