// A throwaway network topology for the proxy's integration tests, all inside network
// namespaces this test creates (the host's own tables and links are never touched):
//
//   client ns (192.168.<n>.2)  --veth--  node ns (192.168.<n>.1; 10.42.0.1 toward pods)
//                                          |-- veth -- pod ns "p1" 10.42.0.2/32
//                                          |-- veth -- pod ns "p2" 10.42.0.3/32 ...
//
// Pods are routed (one /32 per veth), not bridged, so every packet crosses the node's
// netfilter hooks like it would on a real node.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const AGENT = fileURLToPath(new URL('./netns-agent.mjs', import.meta.url));

export function sh(cmd: string, args: string[], input?: string): string {
  // iptables-save of a large rule set is tens of MB.
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 256 << 20 });
}
export const inNs = (ns: string, cmd: string, ...args: string[]): string => sh('ip', ['netns', 'exec', ns, cmd, ...args]);

export interface Topology {
  id: string;
  node: string;
  client: string;
  /** The node's address as the client sees it (for NodePorts). */
  nodeIP: string;
  clientIP: string;
  pods: { ns: string; ip: string }[];
  /** Starts the agent's HTTP (and UDP) server in a namespace. */
  serve(ns: string, name: string, port: number, udpPort?: number): Promise<ChildProcess>;
  /** `count` HTTP GETs on fresh connections from namespace `ns`. */
  get(ns: string, url: string, count?: number): Promise<{ ok: boolean; status?: number; body?: string; error?: string; ms: number }[]>;
  udp(ns: string, host: string, port: number, msg?: string): Promise<{ ok: boolean; body?: string; error?: string }>;
  destroy(): void;
}

export async function createTopology(podCount: number): Promise<Topology> {
  const id = `${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const n = 100 + (Number(id) % 150);
  const node = `jtn-node-${id}`, client = `jtn-cli-${id}`;
  const children: ChildProcess[] = [];
  const created: string[] = [];
  const topo: Topology = {
    id, node, client, nodeIP: `192.168.${n}.1`, clientIP: `192.168.${n}.2`, pods: [],
    async serve(ns, name, port, udpPort) {
      const c = spawn('ip', ['netns', 'exec', ns, process.execPath, AGENT, 'serve', name, String(port), ...(udpPort ? [String(udpPort)] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(c);
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: c.stdout! }).once('line', () => resolve());
        c.once('exit', (code) => reject(new Error(`agent in ${ns} exited ${code}`)));
      });
      return c;
    },
    async get(ns, url, count = 1) {
      const out = await run(['ip', 'netns', 'exec', ns, process.execPath, AGENT, 'get', url, String(count)]);
      return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    },
    async udp(ns, host, port, msg) {
      const out = await run(['ip', 'netns', 'exec', ns, process.execPath, AGENT, 'udp', host, String(port), msg ?? 'ping']);
      return JSON.parse(out.trim());
    },
    destroy() {
      for (const c of children) try { c.kill('SIGKILL'); } catch { /* gone */ }
      // Deleting a namespace removes its veth ends, and with them the peers.
      for (const ns of created.reverse()) try { sh('ip', ['netns', 'del', ns]); } catch { /* gone */ }
    },
  };
  try {
    const mk = (ns: string): void => { sh('ip', ['netns', 'add', ns]); created.push(ns); inNs(ns, 'ip', 'link', 'set', 'lo', 'up'); };
    mk(node);
    mk(client);
    inNs(node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    // A node has a default route; without one, cluster IPs are unroutable before NAT.
    inNs(node, 'ip', 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'uplink-peer');
    inNs(node, 'ip', 'link', 'set', 'uplink', 'up');
    inNs(node, 'ip', 'link', 'set', 'uplink-peer', 'up');
    inNs(node, 'ip', 'route', 'add', 'default', 'dev', 'uplink');
    // client <-> node
    sh('ip', ['link', 'add', `jtc${id}`, 'netns', client, 'type', 'veth', 'peer', 'name', 'eth-client', 'netns', node]);
    inNs(client, 'ip', 'link', 'set', `jtc${id}`, 'name', 'eth0');
    inNs(client, 'ip', 'addr', 'add', `${topo.clientIP}/24`, 'dev', 'eth0');
    inNs(client, 'ip', 'link', 'set', 'eth0', 'up');
    inNs(client, 'ip', 'route', 'add', 'default', 'via', topo.nodeIP);
    inNs(node, 'ip', 'addr', 'add', `${topo.nodeIP}/24`, 'dev', 'eth-client');
    inNs(node, 'ip', 'link', 'set', 'eth-client', 'up');
    for (let i = 0; i < podCount; i++) {
      const ns = `jtn-p${i}-${id}`, ip = `10.42.0.${i + 2}`, host = `pod${i}`;
      mk(ns);
      sh('ip', ['link', 'add', `jtp${i}${id}`, 'netns', ns, 'type', 'veth', 'peer', 'name', host, 'netns', node]);
      inNs(ns, 'ip', 'link', 'set', `jtp${i}${id}`, 'name', 'eth0');
      inNs(ns, 'ip', 'addr', 'add', `${ip}/32`, 'dev', 'eth0');
      inNs(ns, 'ip', 'link', 'set', 'eth0', 'up');
      inNs(ns, 'ip', 'route', 'add', '10.42.0.1', 'dev', 'eth0');
      inNs(ns, 'ip', 'route', 'add', 'default', 'via', '10.42.0.1');
      inNs(node, 'ip', 'addr', 'add', '10.42.0.1/32', 'dev', host);
      inNs(node, 'ip', 'link', 'set', host, 'up');
      inNs(node, 'ip', 'route', 'add', `${ip}/32`, 'dev', host);
      topo.pods.push({ ns, ip });
    }
  } catch (e) {
    topo.destroy();
    throw e;
  }
  return topo;
}

function run(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { err += d; });
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')}: ${code} ${err}`))));
  });
}
