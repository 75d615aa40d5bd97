// bench:streaming's ceiling: the real path's process chain (kubectl, API server, agent)
// with each process replaced by a plain Node relay (relay-hop.mjs) that does only what
// the sockets and TLS of that path need: client -TCP-> "kubectl" -TLS-> "API server"
// -TLS-> "agent" -TCP-> target. What this chain moves on this machine, beside the direct
// connection in the same run, is how far the real path could get without its protocols
// (WebSocket, SPDY, channels, kubectl's own work) and without bin/jotasu.mjs's malloc
// settings. The hops move bytes with the API server's relay code (relayModule) or, without
// it, with plain pipe().
import { spawn, type ChildProcess } from 'node:child_process';
import { newCA, issueCert } from '../../src/apiserver/tls.js';

export interface RelayChain {
  /** Where the client connects (loopback). */
  port: number;
  pids: { kubectl: number; apiserver: number; agent: number };
  /** The TLS suite negotiated on each TLS hop, by the connecting hop's name, once a connection was made. */
  ciphers: Record<string, string>;
  stop(): void;
}

const hopPath = new URL('./relay-hop.mjs', import.meta.url).pathname;

/**
 * Starts the chain toward host:port. `ciphers` per TLS hop, client hop then internal hop
 * (OpenSSL names). By default none: both hops then settle on TLS_AES_256_GCM_SHA384 as
 * the real path's do (the API server logs both at debug level: 'upgrade relayed'; the
 * Node server's preference wins over Go's AES-128 first).
 */
export async function startRelayChain(host: string, port: number, o: { relayModule?: string; ciphers?: [string?, string?] } = {}): Promise<RelayChain> {
  const ciphers0 = o.ciphers ?? [];
  const ca = await newCA('bench-relay-ca');
  const cert = await issueCert(ca, { cn: 'localhost', dnsNames: ['localhost'], ips: ['127.0.0.1'], server: true });
  const procs: ChildProcess[] = [];
  const ciphers: Record<string, string> = {};
  const start = (config: object) => new Promise<[number, number]>((resolve, reject) => {
    // Plain node, no preloads: the floor, not our settings.
    const p = spawn(process.execPath, [hopPath, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
    procs.push(p);
    let out = '';
    p.stdout!.on('data', (d: Buffer) => { out += d; if (out.includes('\n')) resolve([Number(out.trim()), p.pid!]); });
    p.stderr!.on('data', (d: Buffer) => { for (const m of d.toString().matchAll(/relay-hop (\S+): (\S+)/g)) ciphers[m[1]!] = m[2]!; });
    p.on('exit', (code) => reject(new Error(`relay hop exited ${code} before listening`)));
  });
  const common = { cert: cert.certPem, key: cert.keyPem, ca: ca.certPem, relayModule: o.relayModule };
  try {
    const [agentPort, agent] = await start({ ...common, name: 'agent', listenTls: true, connect: { host, port, tls: false } });
    const [apiPort, apiserver] = await start({ ...common, name: 'apiserver', listenTls: true, connect: { host: '127.0.0.1', port: agentPort, tls: true }, ciphers: ciphers0[1] });
    const [kubectlPort, kubectl] = await start({ ...common, name: 'kubectl', listenTls: false, connect: { host: '127.0.0.1', port: apiPort, tls: true }, ciphers: ciphers0[0] });
    return { port: kubectlPort, pids: { kubectl, apiserver, agent }, ciphers, stop: () => { for (const p of procs) p.kill('SIGKILL'); } };
  } catch (e) {
    for (const p of procs) p.kill('SIGKILL');
    throw e;
  }
}
