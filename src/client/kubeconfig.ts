// Reading and writing kubeconfig files (the format kubectl uses), resolved into a
// ClientConfig. Follows client-go's clientcmd for the parts jotasu needs: one
// context picked by name or current-context, file paths relative to the file,
// inline *-data fields, bearer tokens (inline or tokenFile), KUBECONFIG env.
import { readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { dirname, isAbsolute, resolve, delimiter, join } from 'node:path';
import { homedir } from 'node:os';
import { parse, stringify } from 'yaml';
import type { ClientConfig } from './types.js';

interface NamedCluster { name: string; cluster: Record<string, unknown> }
interface NamedUser { name: string; user: Record<string, unknown> }
interface NamedContext { name: string; context: { cluster?: string; user?: string; namespace?: string } }
interface KubeconfigFile {
  clusters?: NamedCluster[];
  users?: NamedUser[];
  contexts?: NamedContext[];
  'current-context'?: string;
}

/** The k3s-style default location used by `jotasu server`. */
export const DEFAULT_KUBECONFIG = '/etc/jotasu/jotasu.yaml';

/** The kubeconfig path to use: explicit, else $KUBECONFIG (first entry), else ~/.kube/config. */
export function kubeconfigPath(path?: string): string {
  if (path) return path;
  const env = process.env.KUBECONFIG;
  if (env) {
    const first = env.split(delimiter).find((p) => p.length > 0);
    if (first) return first;
  }
  return join(homedir(), '.kube', 'config');
}

/** Extra information from the chosen context that ClientConfig does not carry. */
export interface LoadedKubeconfig extends ClientConfig {
  /** The context's default namespace ("default" when unset). */
  namespace: string;
  contextName: string;
}

/**
 * Load a kubeconfig and resolve one context into connection settings.
 * Throws an Error naming the file and the missing piece on anything unusable.
 */
export function loadKubeconfig(path?: string, context?: string): LoadedKubeconfig {
  const file = kubeconfigPath(path);
  let doc: KubeconfigFile;
  try {
    doc = (parse(readFileSync(file, 'utf8')) ?? {}) as KubeconfigFile;
  } catch (e) {
    throw new Error(`kubeconfig ${file}: ${(e as Error).message}`);
  }
  const base = dirname(resolve(file));
  const ctxName = context ?? doc['current-context'];
  if (!ctxName) throw new Error(`kubeconfig ${file}: no context given and no current-context set`);
  const ctx = doc.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new Error(`kubeconfig ${file}: context "${ctxName}" not found`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster) throw new Error(`kubeconfig ${file}: cluster "${ctx.cluster ?? ''}" of context "${ctxName}" not found`);
  const user = (ctx.user ? doc.users?.find((u) => u.name === ctx.user)?.user : undefined) ?? {};
  if (ctx.user && !doc.users?.some((u) => u.name === ctx.user)) {
    throw new Error(`kubeconfig ${file}: user "${ctx.user}" of context "${ctxName}" not found`);
  }
  const server = cluster.server;
  if (typeof server !== 'string' || !server) throw new Error(`kubeconfig ${file}: cluster "${ctx.cluster}" has no server`);

  const str = (o: Record<string, unknown>, k: string): string | undefined =>
    typeof o[k] === 'string' && (o[k] as string).length > 0 ? (o[k] as string) : undefined;
  // A PEM given inline (base64 *-data) or as a file path relative to the kubeconfig.
  const pem = (o: Record<string, unknown>, dataKey: string, fileKey: string): Buffer | undefined => {
    const data = str(o, dataKey);
    if (data) return Buffer.from(data, 'base64');
    const p = str(o, fileKey);
    if (!p) return undefined;
    const abs = isAbsolute(p) ? p : resolve(base, p);
    try {
      return readFileSync(abs);
    } catch (e) {
      throw new Error(`kubeconfig ${file}: ${fileKey} ${abs}: ${(e as Error).message}`);
    }
  };

  const cfg: LoadedKubeconfig = { server: server.replace(/\/+$/, ''), namespace: ctx.namespace || 'default', contextName: ctxName };
  const ca = pem(cluster, 'certificate-authority-data', 'certificate-authority');
  if (ca) cfg.caData = ca;
  if (cluster['insecure-skip-tls-verify'] === true) cfg.insecureSkipTLSVerify = true;
  const cert = pem(user, 'client-certificate-data', 'client-certificate');
  const key = pem(user, 'client-key-data', 'client-key');
  if (cert) cfg.certData = cert;
  if (key) cfg.keyData = key;
  if ((cert === undefined) !== (key === undefined)) {
    throw new Error(`kubeconfig ${file}: user "${ctx.user}" has a client certificate without a key or a key without a certificate`);
  }
  let token = str(user, 'token');
  const tokenFile = str(user, 'tokenFile');
  if (!token && tokenFile) {
    const abs = isAbsolute(tokenFile) ? tokenFile : resolve(base, tokenFile);
    try {
      token = readFileSync(abs, 'utf8').trim();
    } catch (e) {
      throw new Error(`kubeconfig ${file}: tokenFile ${abs}: ${(e as Error).message}`);
    }
  }
  if (token) cfg.token = token;
  return cfg;
}

export type KubeconfigCredentials =
  | { server: string; caPem: string | Buffer; certPem: string | Buffer; keyPem: string | Buffer; token?: undefined }
  | { server: string; caPem: string | Buffer; token: string; certPem?: undefined; keyPem?: undefined };

/** Build the kubeconfig YAML text (one cluster, user and context named "default", as k3s writes). */
export function kubeconfigYaml(c: KubeconfigCredentials, name = 'default'): string {
  const b64 = (v: string | Buffer): string => Buffer.from(v).toString('base64');
  const user: Record<string, string> = c.token !== undefined
    ? { token: c.token }
    : { 'client-certificate-data': b64(c.certPem), 'client-key-data': b64(c.keyPem) };
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: c.server, 'certificate-authority-data': b64(c.caPem) } }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    'current-context': name,
    preferences: {},
    users: [{ name, user }],
  };
  return stringify(doc);
}

/** Write a kubeconfig (mode 0600: it holds credentials), creating the directory. */
export function writeKubeconfig(path: string, c: KubeconfigCredentials, name = 'default'): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeFileSync(path, kubeconfigYaml(c, name), { mode: 0o600 });
  chmodSync(path, 0o600); // writeFileSync keeps the mode of an existing file
}
