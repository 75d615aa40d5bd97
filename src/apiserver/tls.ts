// The cluster CA and the API server's serving certificate, generated on first start
// into DATA_DIR/server/tls/ and reused afterwards. ECDSA P-256 keeps generation fast
// (milliseconds), which matters for a ~1 s start.
import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs the Reflect metadata API
import * as x509 from '@peculiar/x509';
import { webcrypto, randomBytes, X509Certificate as NodeX509 } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';

x509.cryptoProvider.set(webcrypto as never);

const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;
const ONE_YEAR_MS = 365 * 24 * 3600 * 1000;

export interface KeyPair { certPem: string; keyPem: string }

export interface ClusterTLS {
  dir: string;
  ca: KeyPair;
  serving: KeyPair;
  /** PKCS#8 PEM of the key that signs service-account tokens (DATA_DIR/server/tls/service.key, k3s' name). */
  serviceAccountKey: string;
}

export const SERVICE_ACCOUNT_KEY_FILE = 'service.key';

function pemKey(der: ArrayBuffer): string {
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
}

function serial(): string {
  // Positive serial: clear the top bit.
  const b = randomBytes(16);
  b[0]! &= 0x7f;
  return b.toString('hex');
}

async function importKeyPair(kp: KeyPair): Promise<{ cert: x509.X509Certificate; key: webcrypto.CryptoKey }> {
  const cert = new x509.X509Certificate(kp.certPem);
  const der = x509.PemConverter.decode(kp.keyPem)[0]!;
  const key = await webcrypto.subtle.importKey('pkcs8', der, alg, true, ['sign']) as webcrypto.CryptoKey;
  return { cert, key };
}

export async function newCA(cn: string): Promise<KeyPair> {
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${cn}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + TEN_YEARS_MS),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as never)) };
}

function escapeDN(s: string): string {
  return s.replace(/([,+"\\<>;=])/g, '\\$1');
}

/** Issue a leaf certificate signed by the CA: client auth, server auth or both. */
export async function issueCert(
  ca: KeyPair,
  opts: { cn: string; orgs?: string[]; dnsNames?: string[]; ips?: string[]; client?: boolean; server?: boolean },
): Promise<KeyPair> {
  const issuer = await importKeyPair(ca);
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const subject = [...(opts.orgs ?? []).map((o) => `O=${escapeDN(o)}`), `CN=${escapeDN(opts.cn)}`].join(', ');
  const usages: string[] = [];
  if (opts.server) usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (opts.client) usages.push(x509.ExtendedKeyUsage.clientAuth);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(usages, false),
    await x509.AuthorityKeyIdentifierExtension.create(issuer.cert, false),
  ];
  const names = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: issuer.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + ONE_YEAR_MS),
    signingKey: issuer.key,
    publicKey: keys.publicKey,
    signingAlgorithm: alg,
    extensions,
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as never)) };
}

/** A client certificate for user `cn` in groups `orgs` (e.g. system:admin / system:masters). */
export async function issueClientCert(ca: KeyPair, cn: string, orgs: string[] = []): Promise<KeyPair> {
  return issueCert(ca, { cn, orgs, client: true });
}

function localIPs(): string[] {
  const out = new Set<string>(['127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.add(a.address.replace(/%.*$/, ''));
  }
  return [...out];
}

export function servingSANs(serviceIP = '10.43.0.1', clusterDomain = 'cluster.local', extra: string[] = []): { dnsNames: string[]; ips: string[] } {
  const dnsNames = ['localhost', hostname(), 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${clusterDomain}`];
  const ips = [...localIPs(), serviceIP];
  for (const e of extra) (/^[\d.]+$|:/.test(e) ? ips : dnsNames).push(e);
  return { dnsNames: [...new Set(dnsNames)], ips: [...new Set(ips)] };
}

async function readPair(dir: string, base: string): Promise<KeyPair | undefined> {
  const c = join(dir, `${base}.crt`), k = join(dir, `${base}.key`);
  if (!existsSync(c) || !existsSync(k)) return undefined;
  return { certPem: await readFile(c, 'utf8'), keyPem: await readFile(k, 'utf8') };
}

async function writePair(dir: string, base: string, kp: KeyPair): Promise<void> {
  await writeFile(join(dir, `${base}.crt`), kp.certPem, { mode: 0o644 });
  await writeFile(join(dir, `${base}.key`), kp.keyPem, { mode: 0o600 });
}

/** True when the certificate covers every wanted SAN and is not about to expire. */
function servingCertStillGood(kp: KeyPair, sans: { dnsNames: string[]; ips: string[] }): boolean {
  try {
    const c = new NodeX509(kp.certPem);
    if (Date.parse(c.validTo) - Date.now() < 30 * 24 * 3600 * 1000) return false;
    const have = c.subjectAltName ?? '';
    return sans.dnsNames.every((d) => have.includes(`DNS:${d}`)) && sans.ips.every((ip) => c.checkIP(ip) !== undefined);
  } catch {
    return false;
  }
}

/** Load or create the CA and serving certificate under DATA_DIR/server/tls. */
export async function ensureClusterTLS(dataDir: string, opts: { serviceIP?: string; clusterDomain?: string; extraSANs?: string[] } = {}): Promise<ClusterTLS> {
  const dir = join(dataDir, 'server', 'tls');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let ca = await readPair(dir, 'server-ca');
  if (!ca) {
    ca = await newCA(`jotasu-server-ca@${Math.floor(Date.now() / 1000)}`);
    await writePair(dir, 'server-ca', ca);
  }
  const sans = servingSANs(opts.serviceIP, opts.clusterDomain, opts.extraSANs);
  let serving = await readPair(dir, 'serving-kube-apiserver');
  if (!serving || !servingCertStillGood(serving, sans)) {
    serving = await issueCert(ca, { cn: 'kube-apiserver', ...sans, server: true });
    await writePair(dir, 'serving-kube-apiserver', serving);
  }
  const saFile = join(dir, SERVICE_ACCOUNT_KEY_FILE);
  let serviceAccountKey = existsSync(saFile) ? await readFile(saFile, 'utf8') : '';
  if (!serviceAccountKey) {
    // ES256 like the CA: generated in milliseconds; upstream accepts ECDSA service-account keys.
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
    serviceAccountKey = pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as never));
    await writeFile(saFile, serviceAccountKey, { mode: 0o600 });
  }
  return { dir, ca, serving, serviceAccountKey };
}

/** The admin client certificate, kept in the tls dir so kubeconfigs stay valid across restarts. */
export async function ensureAdminCert(tls: ClusterTLS): Promise<KeyPair> {
  let admin = await readPair(tls.dir, 'client-admin');
  if (!admin) {
    admin = await issueClientCert(tls.ca, 'system:admin', ['system:masters']);
    await writePair(tls.dir, 'client-admin', admin);
  }
  return admin;
}
