// The node join endpoint (what k3s' supervisor does for agents): an agent presents
// the cluster token (DATA_DIR/server/token) and gets its own client certificate,
// CN=system:node:<name> O=system:nodes, and one for its service proxy, CN=system:kube-proxy
// (as k3s' client-kube-proxy certificate), with the cluster CA. The agent does not know
// the CA yet, so the answer carries an HMAC over the certificates keyed with the
// token: only a server that knows the token can produce it.
//   POST /v1-jotasu/join   Authorization: Bearer <token>   {"nodeName": "...", "addresses": [...]}
//   200 {"caPem", "certPem", "keyPem", "servingCertPem", "servingKeyPem", "proxyCertPem", "proxyKeyPem", "mac"}
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyPair } from './tls.js';
import { logger } from '../util/log.js';

const log = logger('apiserver.join');
export const JOIN_PATH = '/v1-jotasu/join';
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface JoinResponse {
  caPem: string; certPem: string; keyPem: string; mac: string;
  /** The kubelet's serving certificate (port 10250) for the node's names and addresses. */
  servingCertPem: string; servingKeyPem: string;
  /** The service proxy's client certificate: system:kube-proxy, bound to system:node-proxier. */
  proxyCertPem: string; proxyKeyPem: string;
}

/** The identity of every node's service proxy (upstream's kube-proxy user). */
export const KUBE_PROXY_USER = 'system:kube-proxy';

/** What the join answer's MAC covers after the CA: the certificates it hands out. */
export const joinMacCerts = (r: Pick<JoinResponse, 'certPem' | 'servingCertPem' | 'proxyCertPem'>): string => r.certPem + r.servingCertPem + r.proxyCertPem;

export function joinMac(token: string, caPem: string, certPem: string): string {
  return createHmac('sha256', token).update(caPem).update('\n').update(certPem).digest('hex');
}

/** Accepts the raw token or k3s' "K10<ca hash>::<user>:<token>" form. */
export function tokenSecret(t: string): string {
  const m = /^K10[0-9a-f]*::[^:]+:(.+)$/.exec(t.trim());
  return m ? m[1]! : t.trim();
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const b = Buffer.from(JSON.stringify(body));
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': b.length });
  res.end(b);
}

function status(code: number, reason: string, message: string): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** A route for the API server's request handler: returns true when it answered the request. */
export function joinHandler(o: { dataDir: string; ca: KeyPair }): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean> {
  const file = join(o.dataDir, 'server', 'token');
  let cached = { mtime: 0, token: '' };
  const token = (): string => {
    if (!existsSync(file)) return '';
    const m = statSync(file).mtimeMs;
    if (m !== cached.mtime) cached = { mtime: m, token: readFileSync(file, 'utf8').trim() };
    return cached.token;
  };
  return async (req, res, path) => {
    if (path !== JOIN_PATH) return false;
    if (req.method !== 'POST') { send(res, 405, status(405, 'MethodNotAllowed', 'use POST')); return true; }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) { size += (c as Buffer).length; if (size > 65536) break; chunks.push(c as Buffer); }
    const want = token();
    const h = req.headers.authorization ?? '';
    const got = Buffer.from(/^bearer /i.test(h) ? tokenSecret(h.slice(7)) : '');
    if (!want || got.length !== Buffer.byteLength(want) || !timingSafeEqual(got, Buffer.from(want))) {
      send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      return true;
    }
    let nodeName = '';
    let addresses: string[] = [];
    try {
      const b = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { nodeName?: string; addresses?: unknown };
      nodeName = String(b.nodeName ?? '');
      if (Array.isArray(b.addresses)) addresses = b.addresses.filter((a): a is string => typeof a === 'string' && /^[-a-zA-Z0-9.:]{1,253}$/.test(a)).slice(0, 16);
    } catch { /* below */ }
    if (!NODE_NAME.test(nodeName)) { send(res, 400, status(400, 'BadRequest', `invalid node name ${JSON.stringify(nodeName)}`)); return true; }
    // Loaded here so that agents, which import this module for joinMac, do not load x509.
    const [{ issueClientCert }, { issueKubeletServingCert }] = await Promise.all([import('./tls.js'), import('../kubelet/server/certs.js')]);
    const kp = await issueClientCert(o.ca, `system:node:${nodeName}`, ['system:nodes']);
    const serving = await issueKubeletServingCert(o.ca, nodeName, addresses);
    const proxy = await issueClientCert(o.ca, KUBE_PROXY_USER, []);
    log.info({ node: nodeName }, 'node joined: client certificates issued');
    const certs = { certPem: kp.certPem, servingCertPem: serving.certPem, proxyCertPem: proxy.certPem };
    send(res, 200, { caPem: o.ca.certPem, ...certs, keyPem: kp.keyPem, servingKeyPem: serving.keyPem, proxyKeyPem: proxy.keyPem,
      mac: joinMac(want, o.ca.certPem, joinMacCerts(certs)) } satisfies JoinResponse);
    return true;
  };
}
