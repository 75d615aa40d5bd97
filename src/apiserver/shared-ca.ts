// One cluster CA for every API server on a shared datastore, the k3s way: servers
// started with the same --token find the CA in the datastore, encrypted with a key
// derived from that token, under /bootstrap/<sha256(token)[:12]> (outside /registry/,
// so no API reaches it). The first server publishes its CA; the others install it
// into their own DATA_DIR/server/tls before issuing their serving and admin
// certificates, so one kubeconfig works against all of them. The service-account
// signing key travels with the CA, so a token issued by one server is accepted by all.
//
// Without --token the first start generates one into DATA_DIR/server/token (as k3s);
// joining servers are given it. A server whose token does not match the bootstrap
// data already in the datastore refuses to start instead of forking the cluster's CA.
import { createCipheriv, createDecipheriv, createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Datastore } from '../datastore/types.js';
import { SERVICE_ACCOUNT_KEY_FILE, type ClusterTLS, type KeyPair } from './tls.js';
import { logger } from '../util/log.js';

const log = logger('apiserver.bootstrap');

export const BOOTSTRAP_PREFIX = '/bootstrap/';

/** The token given, else the one this data dir keeps, else a new one (saved there). */
export function ensureServerToken(dataDir: string, given?: string): string {
  const dir = join(dataDir, 'server');
  const file = join(dir, 'token');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const token = given?.trim() || (existsSync(file) ? readFileSync(file, 'utf8').trim() : '') || randomBytes(24).toString('hex');
  if (!existsSync(file) || readFileSync(file, 'utf8').trim() !== token) writeFileSync(file, token + '\n', { mode: 0o600 });
  return token;
}

export function bootstrapKey(token: string): string {
  return BOOTSTRAP_PREFIX + createHash('sha256').update(token).digest('hex').slice(0, 12);
}

interface Sealed { v: 1; salt: string; iv: string; tag: string; data: string }

function keyOf(token: string, salt: Buffer): Buffer {
  return pbkdf2Sync(token, salt, 10_000, 32, 'sha256');
}

/** What the servers of one cluster share: the CA and the service-account signing key. */
export interface SharedSecrets { ca: KeyPair; serviceAccountKey?: string }

export function seal(token: string, shared: SharedSecrets): string {
  const salt = randomBytes(16), iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keyOf(token, salt), iv);
  const plain = { caCert: shared.ca.certPem, caKey: shared.ca.keyPem, saKey: shared.serviceAccountKey };
  const data = Buffer.concat([c.update(JSON.stringify(plain)), c.final()]);
  const s: Sealed = { v: 1, salt: salt.toString('base64'), iv: iv.toString('base64'), tag: c.getAuthTag().toString('base64'), data: data.toString('base64') };
  return JSON.stringify(s);
}

export function unseal(token: string, text: string): SharedSecrets {
  const s = JSON.parse(text) as Sealed;
  const d = createDecipheriv('aes-256-gcm', keyOf(token, Buffer.from(s.salt, 'base64')), Buffer.from(s.iv, 'base64'));
  d.setAuthTag(Buffer.from(s.tag, 'base64'));
  let plain: Buffer;
  try {
    plain = Buffer.concat([d.update(Buffer.from(s.data, 'base64')), d.final()]);
  } catch {
    throw new Error('bootstrap data in the datastore cannot be decrypted with this token');
  }
  // Records written before the service-account key was shared have no saKey.
  const p = JSON.parse(plain.toString('utf8')) as { caCert: string; caKey: string; saKey?: string };
  return { ca: { certPem: p.caCert, keyPem: p.caKey }, serviceAccountKey: p.saKey };
}

/**
 * Installs the shared CA and service-account key into this data dir; certificates issued
 * by another CA go, to be re-issued. True when anything changed.
 */
function install(dataDir: string, shared: SharedSecrets): boolean {
  const dir = join(dataDir, 'server', 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let changed = false;
  const saFile = join(dir, SERVICE_ACCOUNT_KEY_FILE);
  if (shared.serviceAccountKey && !(existsSync(saFile) && readFileSync(saFile, 'utf8') === shared.serviceAccountKey)) {
    writeFileSync(saFile, shared.serviceAccountKey, { mode: 0o600 });
    changed = true;
  }
  const ca = shared.ca;
  const crt = join(dir, 'server-ca.crt');
  if (existsSync(crt) && readFileSync(crt, 'utf8') === ca.certPem) return changed;
  for (const base of ['serving-kube-apiserver', 'client-admin']) {
    rmSync(join(dir, `${base}.crt`), { force: true });
    rmSync(join(dir, `${base}.key`), { force: true });
  }
  writeFileSync(crt, ca.certPem, { mode: 0o644 });
  writeFileSync(join(dir, 'server-ca.key'), ca.keyPem, { mode: 0o600 });
  return true;
}

/**
 * The cluster TLS of this server, with the CA shared through the datastore.
 * `ensure` loads or creates DATA_DIR/server/tls (tls.ts ensureClusterTLS).
 */
export async function bootstrapClusterTLS(ds: Datastore, dataDir: string, token: string, ensure: () => Promise<ClusterTLS>): Promise<ClusterTLS> {
  const key = bootstrapKey(token);
  const kv = await ds.get(key);
  if (kv) {
    const shared = unseal(token, kv.value);
    if (install(dataDir, shared)) log.info({ key }, 'installed the cluster CA from the datastore');
    const tls = await ensure();
    if (!shared.serviceAccountKey) {
      // Published before the service-account key was shared: add this server's; if another
      // server added one meanwhile, read again and use that.
      const res = await ds.update(key, seal(token, { ca: shared.ca, serviceAccountKey: tls.serviceAccountKey }), kv.modRevision);
      if (!res.succeeded) return bootstrapClusterTLS(ds, dataDir, token, ensure);
      log.info({ key }, 'published the service-account key to the datastore');
    }
    return tls;
  }
  const other = await ds.range(BOOTSTRAP_PREFIX, { prefix: true, limit: 1 });
  if (other.kvs.length) {
    throw new Error('the datastore already holds bootstrap data for another token: start this server with the cluster\'s --token (the first server keeps it in DATA_DIR/server/token)');
  }
  const tls = await ensure();
  const res = await ds.create(key, seal(token, { ca: tls.ca, serviceAccountKey: tls.serviceAccountKey }));
  if (res.succeeded) {
    log.info({ key }, 'published the cluster CA to the datastore');
    return tls;
  }
  // Another server published first: its CA and key win.
  if (!res.current) throw new Error(`bootstrap ${key}: create failed without a current value`);
  install(dataDir, unseal(token, res.current.value));
  log.info({ key }, 'another server published the cluster CA first; using it');
  return ensure();
}
