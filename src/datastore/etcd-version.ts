// The etcd server's version, from its client port's /version endpoint (served beside gRPC),
// and what it implies for progress notifications.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface VersionProbeTLS { ca?: Buffer; cert?: Buffer; key?: Buffer }

/** GET <endpoint>/version: the "etcdserver" field, e.g. "3.4.23". */
export function fetchEtcdVersion(endpoint: string, tls: VersionProbeTLS, timeoutMs = 3000): Promise<string> {
  const url = new URL('/version', endpoint);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { ...(url.protocol === 'https:' ? tls : {}), timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => {
        try {
          const v = (JSON.parse(body) as { etcdserver?: unknown }).etcdserver;
          if (typeof v !== 'string') throw new Error(`no etcdserver field in ${JSON.stringify(body.slice(0, 200))}`);
          resolve(v);
        } catch (e) {
          reject(new Error(`etcd ${endpoint}/version: ${(e as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`etcd ${endpoint}/version: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Whether this etcd version sends a watch's progress notifications only after the events
 * they cover. Before v3.4.25 and v3.5.8 a requested progress notification could overtake an
 * event of the same revision (etcd#15220), so a watch cache that trusted it could serve a
 * "consistent" list missing a write already acknowledged; kube-apiserver then serves
 * consistent reads from etcd instead, and so do we.
 */
export function progressNotifyIsOrdered(version: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (major !== 3) return major > 3;
  if (minor === 4) return patch >= 25;
  if (minor === 5) return patch >= 8;
  return minor > 5;
}
