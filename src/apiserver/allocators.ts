// ClusterIP and NodePort allocation. Each allocated IP or port is one key created
// only if absent (`/registry/jotasu/serviceips/<ip>`, `/registry/jotasu/nodeports/<port>`),
// so several API servers on one etcd cannot hand out the same one twice.
import { randomInt } from 'node:crypto';
import type { Datastore } from '../datastore/types.js';
import { errors, type FieldError } from '../api/errors.js';

export const SERVICE_IPS_PREFIX = '/registry/jotasu/serviceips/';
export const NODE_PORTS_PREFIX = '/registry/jotasu/nodeports/';

function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return ((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!;
}
function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export class CIDR {
  readonly base: number;
  readonly size: number;
  constructor(readonly text: string) {
    const [ip, bits] = text.split('/');
    const b = Number(bits);
    if (!ip || !Number.isInteger(b) || b < 8 || b > 30) throw new Error(`invalid IPv4 CIDR ${text}`);
    this.size = 2 ** (32 - b);
    this.base = ipToInt(ip) & ~(this.size - 1) >>> 0;
  }
  contains(ip: string): boolean {
    try { const n = ipToInt(ip); return n >= this.base && n < this.base + this.size; } catch { return false; }
  }
  /** The n-th address (1 = first usable). */
  nth(n: number): string { return intToIp((this.base + n) >>> 0); }
}

export class Allocators {
  readonly serviceCIDR: CIDR;
  constructor(private readonly ds: Datastore, serviceCIDR: string, readonly nodePortRange: [number, number] = [30000, 32767]) {
    this.serviceCIDR = new CIDR(serviceCIDR);
  }

  /** 10.43.0.1: the `kubernetes` Service. */
  get apiServiceIP(): string { return this.serviceCIDR.nth(1); }
  /** 10.43.0.10: reserved for cluster DNS (only handed out when asked for). */
  get dnsServiceIP(): string { return this.serviceCIDR.nth(10); }

  /**
   * Claims a requested IP or port: also true when the owner holds it already (a retried
   * write, an update that keeps it).
   */
  private async claim(key: string, owner: string): Promise<boolean> {
    const r = await this.ds.create(key, owner);
    if (r.succeeded) return true;
    return r.current?.value === owner;
  }

  /**
   * Claims a candidate of a search for a free one: only a new key counts. One the owner
   * holds already may be its own other port (a Service's second NodePort), not free.
   */
  private async claimFree(key: string, owner: string): Promise<boolean> {
    return (await this.ds.create(key, owner)).succeeded;
  }

  async release(key: string): Promise<void> {
    await this.ds.delete(key).catch(() => undefined);
  }

  ipKey(ip: string): string { return SERVICE_IPS_PREFIX + ip; }
  portKey(port: number): string { return NODE_PORTS_PREFIX + port; }

  /** Allocate `ip` exactly, or a random free one. */
  async allocateIP(owner: string, ip?: string): Promise<string> {
    if (ip) {
      if (!this.serviceCIDR.contains(ip)) {
        throw invalidField('spec.clusterIPs', [ip], `failed to allocate IP ${ip}: the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${this.serviceCIDR.text}`);
      }
      if (!(await this.claim(this.ipKey(ip), owner))) {
        throw invalidField('spec.clusterIPs', [ip], `failed to allocate IP ${ip}: provided IP is already allocated`);
      }
      return ip;
    }
    const usable = this.serviceCIDR.size - 2;
    // Random probing skips the reserved low addresses (.1 API, .10 DNS) by starting above them.
    const low = Math.min(16, usable - 1);
    for (let i = 0; i < 64; i++) {
      const n = low + randomInt(usable - low) + 1;
      const cand = this.serviceCIDR.nth(n);
      if (await this.claimFree(this.ipKey(cand), owner)) return cand;
    }
    for (let n = low + 1; n <= usable; n++) {
      const cand = this.serviceCIDR.nth(n);
      if (await this.claimFree(this.ipKey(cand), owner)) return cand;
    }
    throw errors.internal(`failed to allocate a serviceIP: range is full`);
  }

  async allocatePort(owner: string, field: string, port?: number): Promise<number> {
    const [lo, hi] = this.nodePortRange;
    if (port) {
      if (port < lo || port > hi) throw invalidField(field, port, `provided port is not in the valid range. The range of valid ports is ${lo}-${hi}`);
      if (!(await this.claim(this.portKey(port), owner))) throw invalidField(field, port, 'provided port is already allocated');
      return port;
    }
    for (let i = 0; i < 64; i++) {
      const p = lo + randomInt(hi - lo + 1);
      if (await this.claimFree(this.portKey(p), owner)) return p;
    }
    for (let p = lo; p <= hi; p++) if (await this.claimFree(this.portKey(p), owner)) return p;
    throw errors.internal('failed to allocate a nodePort: range is full');
  }
}

function invalidField(field: string, value: unknown, detail: string): Error & { fieldError: FieldError } {
  const e = new Error(detail) as Error & { fieldError: FieldError };
  e.fieldError = { type: 'Invalid', field, value, detail };
  return e;
}

export function isAllocationError(e: unknown): e is Error & { fieldError: FieldError } {
  return e instanceof Error && 'fieldError' in e;
}
