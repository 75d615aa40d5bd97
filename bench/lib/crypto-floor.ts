// The crypto floor of a TLS hop on this machine: CPU seconds per 100 MB of AES-GCM (TLS
// 1.3's bulk cipher) on 16 KiB records, as `openssl speed` measures it (CPU time, the
// system's OpenSSL 3, the same AES-NI/VAES code as Node's). Every byte a TLS hop carries
// is sealed at one end and opened at the other, at about this cost each; what a process
// spends per 100 MB beyond it is sockets, copies and code.
import { spawnSync } from 'node:child_process';

/** CPU seconds per 100 MB to seal with `algorithm` (open costs the same), or undefined without `openssl`. */
export function gcmSecondsPer100MB(algorithm: 'aes-128-gcm' | 'aes-256-gcm'): number | undefined {
  const r = spawnSync('openssl', ['speed', '-seconds', '1', '-bytes', '16384', '-evp', algorithm], { encoding: 'utf8' });
  // The last line: "AES-256-GCM   4502429.70k" (thousands of bytes per second).
  const m = r.stdout?.trim().split('\n').pop()?.match(/([\d.]+)k\s*$/);
  return m ? (100 * 1024 * 1024) / (Number(m[1]) * 1000) : undefined;
}
