// Node IPAM (upstream pkg/controller/nodeipam, range allocator): every node gets a
// spec.podCIDR / podCIDRs from --cluster-cidr (a /24 out of 10.42.0.0/16 by
// default), never one that another node uses.
import type { Node } from 'kubernetes-types/core/v1.js';
import { R } from '../api/resources.js';
import type { Informer } from '../client/types.js';
import { isStatusError } from '../api/errors.js';
import { queueController, withKind, type Controller, type ControllerContext, type SyncResult } from './base.js';

function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`invalid IPv4 address ${ip}`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}
function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Hands out subnets of size /maskSize from `cidr`, lowest free first. */
export class CidrAllocator {
  private readonly base: number;
  private readonly count: number;
  private readonly shift: number;
  private readonly used = new Set<number>();
  constructor(cidr: string, readonly maskSize: number) {
    const [ip, bitsS] = cidr.split('/');
    const bits = Number(bitsS);
    if (!ip || !Number.isInteger(bits) || bits < 0 || bits > 32 || maskSize < bits || maskSize > 32) throw new Error(`invalid cluster CIDR ${cidr} / mask ${maskSize}`);
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    this.base = (ipToInt(ip) & mask) >>> 0;
    this.shift = 32 - maskSize;
    this.count = 2 ** (maskSize - bits);
  }
  private indexOf(cidr: string): number | undefined {
    const [ip, bits] = cidr.split('/');
    if (!ip || Number(bits) !== this.maskSize || ip.includes(':')) return undefined;
    let n: number;
    try { n = ipToInt(ip); } catch { return undefined; }
    const idx = Math.floor((n - this.base) / 2 ** this.shift);
    return idx >= 0 && idx < this.count ? idx : undefined;
  }
  /** Mark a CIDR in use (a node already has it). */
  occupy(cidr: string): void {
    const i = this.indexOf(cidr);
    if (i !== undefined) this.used.add(i);
  }
  release(cidr: string): void {
    const i = this.indexOf(cidr);
    if (i !== undefined) this.used.delete(i);
  }
  allocate(): string | undefined {
    for (let i = 0; i < this.count; i++) {
      if (this.used.has(i)) continue;
      this.used.add(i);
      return `${intToIp((this.base + i * 2 ** this.shift) >>> 0)}/${this.maskSize}`;
    }
    return undefined;
  }
}

export function startNodeIpamController(ctx: ControllerContext): Controller {
  const name = 'nodeipam';
  const log = ctx.log.child({ controller: name });
  const nodeInf: Informer<Node> = ctx.informers.informer<Node>(R.nodes);
  const client = ctx.client.resource<Node>(R.nodes);
  const queue = ctx.newQueue(name);
  const recorder = ctx.recorder('cidrAllocator');
  const alloc = new CidrAllocator(ctx.options.clusterCidr, ctx.options.nodeCidrMaskSize);
  /** CIDRs we handed out whose node update we have not yet observed. */
  const pending = new Map<string, string>();
  /** Nodes that found the range full. */
  const starved = new Set<string>();

  // Occupancy follows the nodes as they are seen (the initial list included, which is
  // delivered before the workers start): restart-safe, never reusing a CIDR in use, and O(1)
  // per event. (Rebuilding it from every cached node in each sync made registering N nodes
  // cost N^2 CIDR parses: 1,000 simulated nodes kept this controller busy for seconds.)
  const occupy = (n: Node): void => { for (const c of cidrsOf(n)) alloc.occupy(c); };
  nodeInf.addEventHandler({
    onAdd: (n) => { occupy(n); queue.add(n.metadata!.name!); },
    onUpdate: (_o, n) => {
      occupy(n);
      if (!n.spec?.podCIDR && !starved.has(n.metadata!.name!)) queue.add(n.metadata!.name!);
    },
    onDelete: (n) => {
      for (const c of cidrsOf(n)) alloc.release(c);
      starved.delete(n.metadata!.name!);
      for (const waiting of starved) queue.add(waiting);
    },
  });

  async function sync(nodeName: string): Promise<SyncResult> {
    const node = nodeInf.store.get(nodeName);
    if (!node || node.spec?.podCIDR) {
      // Someone else set another one meanwhile: ours is free again.
      const ours = pending.get(nodeName);
      if (ours && node && !cidrsOf(node).includes(ours)) alloc.release(ours);
      pending.delete(nodeName);
      return;
    }
    let cidr = pending.get(nodeName);
    if (!cidr) {
      cidr = alloc.allocate();
      if (!cidr) {
        // The range is full: say so once; the node is looked at again when another node goes.
        if (!starved.has(nodeName)) {
          if (!starved.size) log.warn({ node: nodeName, clusterCidr: ctx.options.clusterCidr }, 'no pod CIDR left in the cluster CIDR');
          starved.add(nodeName);
          recorder.event(withKind(node, R.nodes), 'Normal', 'CIDRNotAvailable', `Node ${nodeName} status is now: CIDRNotAvailable`);
        }
        return;
      }
      starved.delete(nodeName);
      pending.set(nodeName, cidr);
    }
    try {
      await client.patch(nodeName, 'merge', { spec: { podCIDR: cidr, podCIDRs: [cidr] } });
      log.info({ node: nodeName, cidr }, 'allocated pod CIDR');
      recorder.event(withKind(node, R.nodes), 'Normal', 'CIDRAssignmentSucceeded', `Node ${nodeName} was assigned pod CIDR ${cidr}`);
    } catch (e) {
      if (isStatusError(e, 'NotFound')) { alloc.release(cidr); pending.delete(nodeName); return; }
      throw e;
    }
    return;
  }

  // A few nodes at a time (upstream runs 30 CIDR update workers): registering many nodes
  // waits on one patch round trip per node. Allocation itself is synchronous.
  return queueController(name, ctx, queue, log, sync, 8);
}

function cidrsOf(n: Node): string[] {
  return n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []);
}
