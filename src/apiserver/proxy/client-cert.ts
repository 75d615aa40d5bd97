// The API server's client certificate for talking to kubelets (upstream:
// --kubelet-client-certificate, user kube-apiserver-kubelet-client in system:masters),
// kept beside the other certificates so it survives restarts.
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { issueClientCert, type ClusterTLS, type KeyPair } from '../tls.js';

export const KUBELET_CLIENT_USER = 'kube-apiserver-kubelet-client';

export async function ensureKubeletClientCert(tls: ClusterTLS): Promise<KeyPair> {
  const crt = join(tls.dir, 'client-kube-apiserver-kubelet-client.crt');
  const key = join(tls.dir, 'client-kube-apiserver-kubelet-client.key');
  if (existsSync(crt) && existsSync(key)) return { certPem: await readFile(crt, 'utf8'), keyPem: await readFile(key, 'utf8') };
  const kp = await issueClientCert(tls.ca, KUBELET_CLIENT_USER, ['system:masters']);
  await writeFile(crt, kp.certPem, { mode: 0o644 });
  await writeFile(key, kp.keyPem, { mode: 0o600 });
  return kp;
}
