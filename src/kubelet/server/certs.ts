// The kubelet server's serving certificate: signed by the cluster CA so the API server
// can verify whom it talks to, with the node's names and addresses as SANs.
import { hostname } from 'node:os';
import { issueCert, type KeyPair } from '../../apiserver/tls.js';

export async function issueKubeletServingCert(ca: KeyPair, nodeName: string, addresses: string[] = []): Promise<KeyPair> {
  const ips = [...new Set(['127.0.0.1', ...addresses.filter((a) => /^[\d.]+$|:/.test(a))])];
  const dnsNames = [...new Set([nodeName, hostname(), 'localhost', ...addresses.filter((a) => !/^[\d.]+$|:/.test(a))])];
  return issueCert(ca, { cn: `system:node:${nodeName}`, orgs: ['system:nodes'], dnsNames, ips, server: true });
}
