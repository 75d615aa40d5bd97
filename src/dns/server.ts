// The cluster DNS server: UDP and TCP on one address, answers from informer caches
// (records.ts), optional forwarding of other names to the host's resolvers.
import dgram from 'node:dgram';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import dnsPacket from 'dns-packet';
import type { Namespace, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { R } from '../api/resources.js';
import type { InformerFactory } from '../client/types.js';
import { logger } from '../util/log.js';
import { Resolver, buildReverse, soa, type Answer, type RR } from './records.js';

export interface DnsServerOptions {
  informers: InformerFactory;
  host: string;
  /** 0 picks a free port (see `port` of the result). */
  port: number;
  zone?: string;
  /** Forward names outside the cluster zone to the host's resolvers (off: REFUSED). */
  forward?: boolean;
  /** Resolvers to forward to (default: nameservers of /etc/resolv.conf). */
  upstreams?: string[];
}

export interface RunningDns { host: string; port: number; resolver: Resolver; stop(): Promise<void> }

const RCODES = { NOERROR: 0, NXDOMAIN: 3, REFUSED: 5, SERVFAIL: 2, FORMERR: 1 } as const;
const SLICE_BY_SERVICE = 'dns-service';

export async function startDnsServer(o: DnsServerOptions): Promise<RunningDns> {
  const log = logger('dns');
  const zone = (o.zone ?? 'cluster.local').toLowerCase();
  const svcInf = o.informers.informer<Service>(R.services);
  const sliceInf = o.informers.informer<EndpointSlice>(R.endpointslices);
  const nsInf = o.informers.informer<Namespace>(R.namespaces);
  sliceInf.addIndexer(SLICE_BY_SERVICE, (s) => {
    const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
    return svc ? [`${s.metadata?.namespace}/${svc}`] : [];
  });
  const slicesOf = (ns: string, svc: string): EndpointSlice[] => sliceInf.store.byIndex(SLICE_BY_SERVICE, `${ns}/${svc}`);
  // Reverse records are rebuilt lazily after a change (PTR queries are rare).
  let reverse: Map<string, string[]> | undefined;
  const invalidate = { onAdd: () => { reverse = undefined; }, onUpdate: () => { reverse = undefined; }, onDelete: () => { reverse = undefined; } };
  svcInf.addEventHandler(invalidate);
  sliceInf.addEventHandler(invalidate);
  const resolver = new Resolver(zone, {
    service: (ns, name) => svcInf.store.get(`${ns}/${name}`),
    slices: slicesOf,
    hasNamespace: (ns) => !!nsInf.store.get(ns) || svcInf.store.byIndex('namespace', ns).length > 0,
    reverse: (ip) => (reverse ??= buildReverse(zone, svcInf.store.list(), slicesOf)).get(ip) ?? [],
  });
  const upstreams = o.forward ? (o.upstreams ?? hostResolvers()) : [];

  async function answer(query: Buffer, maxUdp: number | undefined): Promise<Buffer | undefined> {
    let q: dnsPacket.DecodedPacket;
    try { q = dnsPacket.decode(query); } catch { return undefined; }
    const question = q.questions?.[0];
    const rd = (q.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
    if (!question || q.type !== 'query') return encode({ id: q.id, rcode: 'FORMERR', rd, questions: q.questions ?? [] }, maxUdp);
    if (!resolver.inZone(question.name) && upstreams.length) {
      const r = await forward(query, upstreams);
      if (r) return r;
      return encode({ id: q.id, rcode: 'SERVFAIL', rd, questions: [question] }, maxUdp);
    }
    const a = resolver.resolve(question.name, question.type);
    return encode({ id: q.id, rd, questions: [question], a }, maxUdp);
  }

  function encode(r: { id?: number; rd: number; questions: dnsPacket.Question[]; rcode?: keyof typeof RCODES; a?: Answer }, maxUdp: number | undefined): Buffer {
    const a = r.a;
    const rcode = RCODES[r.rcode ?? a?.rcode ?? 'NOERROR'];
    // NXDOMAIN and NODATA carry the zone's SOA so resolvers cache the negative answer.
    const negative = a && a.rcode !== 'REFUSED' && a.answers.length === 0;
    const pkt: dnsPacket.Packet = {
      id: r.id, type: 'response',
      flags: (a?.authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | r.rd | rcode,
      questions: r.questions,
      answers: (a?.answers ?? []).map(toWire),
      authorities: negative ? [toWire(soa(zone))] : [],
      additionals: (a?.additionals ?? []).map(toWire),
    };
    let buf = dnsPacket.encode(pkt);
    if (maxUdp !== undefined && buf.length > maxUdp) {
      // Too big for UDP: truncated, the client retries over TCP.
      buf = dnsPacket.encode({ ...pkt, flags: (pkt.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [], additionals: [], authorities: [] });
    }
    return buf;
  }

  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    // EDNS0 lets the client announce a larger UDP size; default 512.
    let max = 512;
    try {
      const opt = dnsPacket.decode(msg).additionals?.find((x) => x.type === 'OPT') as { udpPayloadSize?: number } | undefined;
      if (opt?.udpPayloadSize) max = Math.max(512, Math.min(opt.udpPayloadSize, 4096));
    } catch { /* answer() reports FORMERR */ }
    void answer(msg, max).then((b) => { if (b) udp.send(b, rinfo.port, rinfo.address); });
  });
  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void answer(Buffer.from(msg), undefined).then((b) => {
          if (!b || sock.destroyed) return;
          const head = Buffer.alloc(2);
          head.writeUInt16BE(b.length);
          sock.write(Buffer.concat([head, b]));
        });
      }
    });
  });

  // One port for both: bind TCP first (possibly ephemeral), then UDP on the same number.
  const port = await new Promise<number>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(o.port, o.host, () => resolve((tcp.address() as net.AddressInfo).port));
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, o.host, () => resolve());
  });
  log.info({ host: o.host, port, zone, forward: upstreams }, 'cluster DNS listening');
  return {
    host: o.host, port, resolver,
    async stop() {
      await new Promise<void>((r) => udp.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

function toWire(r: RR): dnsPacket.Answer {
  return { name: r.name, type: r.type, ttl: r.ttl, class: 'IN', data: r.data } as dnsPacket.Answer;
}

/** Nameservers from /etc/resolv.conf (loopback stub resolvers included: we run on the host). */
export function hostResolvers(path = '/etc/resolv.conf'): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((x): x is string => !!x && !x.includes(':'));
  } catch { return []; }
}

function forward(query: Buffer, upstreams: string[]): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (b?: Buffer): void => { clearTimeout(t); s.close(); resolve(b); };
    const t = setTimeout(() => done(undefined), 2000);
    s.on('message', (m) => done(m));
    s.on('error', () => done(undefined));
    for (const u of upstreams) s.send(query, 53, u);
  });
}
