// Test environment for kubelet integration tests: a real `jotasu server` (no agent),
// a loopback docker-registry with locally built busybox/nginx images, and a separate
// `jotasu agent --drain` process on its own bridge, run dir, cgroup root and pod CIDR
// (so tests running at the same time cannot collide). stop() drains the agent and then
// sweeps for anything left (namespaces, mounts, cgroups, runc state, veths, bridge).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { binLaunch, startCluster, type Cluster, type ClusterOptions } from '../lib/cluster.js';
import { startRegistry, type TestRegistry } from '../lib/registry.js';
import { busyboxImage, nginxImage } from '../lib/images.js';
import { createClientFromKubeconfig } from '../../src/client/rest.js';
import type { ApiClient } from '../../src/client/types.js';
import { R } from '../../src/api/resources.js';
import { makeExec } from '../../src/proxy/exec.js';
import { cleanupAllModes } from '../../src/proxy/mode.js';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);

export interface KubeletEnv {
  cluster: Cluster;
  registry: TestRegistry;
  client: ApiClient;
  nodeName: string;
  agentDir: string;
  runDir: string;
  bridge: string;
  cgroupRoot: string;
  busybox: string;
  nginx: string;
  agentLogs(): string;
  agentPid(): number | undefined;
  startAgent(): Promise<void>;
  /** SIGKILL the agent (containers keep running). */
  killAgent(): Promise<void>;
  stopAgent(drain: boolean): Promise<void>;
  waitPod(name: string, pred: (p: Pod) => boolean, timeoutMs?: number, ns?: string): Promise<Pod>;
  leftovers(): string[];
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface KubeletEnvOptions {
  /** Pod network; default a random 10.100-199.0.0/16 (other suites pick outside that range). */
  clusterCidr?: string;
  /** Extra `jotasu agent` flags (e.g. small --container-log-max-size). */
  agentArgs?: string[];
  /** Service network; default a random 10.250-254.x.0/24, so that concurrent clusters' proxies never share a cluster IP. */
  serviceCidr?: string;
  /** Cluster DNS IP; default the .10 of the service network. */
  clusterDns?: string;
  /** How the server runs: a compiled entry, node flags (--cpu-prof), environment (benchmarks). */
  server?: Pick<ClusterOptions, 'main' | 'nodeArgs' | 'env'>;
}

export async function startKubeletEnv(opts: KubeletEnvOptions = {}): Promise<KubeletEnv> {
  const id = randomBytes(3).toString('hex');
  const octet = 100 + (parseInt(id, 16) % 100);
  const n = parseInt(id, 16), svcNet = `10.${250 + ((n >> 8) % 5)}.${n & 255}`;
  const cluster = await startCluster({ ...opts.server, args: ['--cluster-cidr', opts.clusterCidr ?? `10.${octet}.0.0/16`],
    serviceCidr: opts.serviceCidr ?? `${svcNet}.0/24`, clusterDns: opts.clusterDns ?? (opts.serviceCidr ? undefined : `${svcNet}.10`), chainPrefix: `JT${id.toUpperCase()}` });
  let registry: TestRegistry | undefined;
  let agent: ChildProcess | undefined;
  let output = '';
  const agentDir = mkdtempSync(join(tmpdir(), 'jotasu-agent-'));
  const runDir = `/run/jotasu-test-${id}`;
  const bridge = `jt${id}`;
  const cgroupRoot = `jotasu-test-${id}`;
  const nodeName = `node-${id}`;
  const client = createClientFromKubeconfig(cluster.kubeconfig);

  const env: KubeletEnv = {
    cluster, client, nodeName, agentDir, runDir, bridge, cgroupRoot,
    registry: undefined as unknown as TestRegistry, busybox: '', nginx: '',
    agentLogs: () => output,
    agentPid: () => agent?.pid,
    async startAgent() {
      // AGENT_NODE_ARGS: extra node flags for the agent (e.g. --cpu-prof for profiling).
      // AGENT_MAIN: a compiled main.js to run instead of the sources through tsx (benchmarks).
      // Compiled, it starts as bin/jotasu.mjs starts node (its malloc settings and node flags).
      const main = process.env.AGENT_MAIN ? [process.env.AGENT_MAIN] : ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')];
      const asInstalled = process.env.AGENT_MAIN ? binLaunch() : { env: {}, nodeFlags: [] };
      const p = spawn(process.execPath, [...asInstalled.nodeFlags, ...(process.env.AGENT_NODE_ARGS?.split(' ').filter(Boolean) ?? []), ...main, 'agent',
        '--server', cluster.url, '--token-file', join(cluster.dataDir, 'server', 'token'), '--node-name', nodeName,
        '--data-dir', agentDir, '--run-dir', runDir, '--bridge', bridge, '--cgroup-root', cgroupRoot, '--drain',
        ...(opts.agentArgs ?? []),
        '--node-ip', '127.0.0.1', '--kubelet-port', '0', '--kubelet-address', '127.0.0.1',
        '--cluster-dns', cluster.clusterDns, '--iptables-chain-prefix', cluster.chainPrefix], {
        cwd: ROOT, env: { ...process.env, ...asInstalled.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      agent = p;
      p.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
      p.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
      process.on('exit', () => { try { p.kill('SIGKILL'); } catch { /* gone */ } });
      // Ready: the node reports Ready.
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (p.exitCode !== null) throw new Error(`agent exited ${p.exitCode}:\n${output}`);
        const n = await client.resource<import('kubernetes-types/core/v1.js').Node>(R.nodes).get(nodeName).catch(() => undefined);
        if (n?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True') return;
        if (Date.now() > deadline) throw new Error(`node not Ready after 60s:\n${output}`);
        await sleep(100);
      }
    },
    async killAgent() {
      if (!agent || agent.exitCode !== null) return;
      const p = agent;
      p.kill('SIGKILL');
      await new Promise((r) => p.once('exit', r));
    },
    async stopAgent(drain) {
      if (!agent || agent.exitCode !== null || agent.signalCode !== null) return;
      const p = agent;
      p.kill(drain ? 'SIGTERM' : 'SIGKILL');
      await new Promise<void>((r) => { const t = setTimeout(() => { p.kill('SIGKILL'); r(); }, 70_000); p.once('exit', () => { clearTimeout(t); r(); }); });
    },
    async waitPod(name, pred, timeoutMs = 60_000, ns = 'default') {
      const deadline = Date.now() + timeoutMs;
      let last: Pod | undefined;
      for (;;) {
        last = await client.resource<Pod>(R.pods).get(name, { namespace: ns }).catch(() => last);
        if (last && pred(last)) return last;
        if (Date.now() > deadline) throw new Error(`pod ${ns}/${name}: condition not met in ${timeoutMs} ms; last status: ${JSON.stringify(last?.status, null, 1)}\nagent:\n${output.slice(-4000)}`);
        await sleep(200);
      }
    },
    leftovers() {
      const out: string[] = [];
      if (existsSync(join(runDir, 'ns')) && readdirSync(join(runDir, 'ns')).length) out.push(`namespaces: ${readdirSync(join(runDir, 'ns')).join(',')}`);
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(agentDir) || l.includes(runDir));
      if (mounts.length) out.push(`mounts: ${mounts.map((l) => l.split(' ')[4]).join(', ')}`);
      for (const d of ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/cpu', '/sys/fs/cgroup/pids', '/sys/fs/cgroup']) {
        if (existsSync(join(d, cgroupRoot))) out.push(`cgroup: ${join(d, cgroupRoot)}`);
      }
      const runc = join(runDir, 'runc');
      if (existsSync(runc) && readdirSync(runc).length) out.push(`runc state: ${readdirSync(runc).join(',')}`);
      const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`master ${bridge} `) || l.includes(`: ${bridge}:`));
      if (links.length) out.push(`links: ${links.map((l) => l.split(':')[1]!.trim()).join(', ')}`);
      // The agent's proxy keeps its chains while it runs (rules mention the pod CIDR too).
      const agentUp = !!agent && agent.exitCode === null && agent.signalCode === null;
      const chains = execFileSync('iptables-save', { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`:${cluster.chainPrefix}-`));
      if (chains.length && !agentUp) out.push(`proxy chains: ${chains.map((l) => l.slice(1).split(' ')[0]).join(', ')}`);
      // Or, in nftables mode (the default where nft works), its table.
      const nftTables = (() => { try { return execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }); } catch { return ''; } })();
      if (!agentUp && nftTables.split('\n').includes(`table ip ${cluster.chainPrefix}-proxy`)) out.push(`proxy table: ${cluster.chainPrefix}-proxy`);
      // NAT/filter rules the CNI plugins made for our pod CIDR (ipMasq, portmap).
      const rules = ['iptables-save'].flatMap((cmd) => execFileSync(cmd, { encoding: 'utf8' }).split('\n')).filter((l) => l.includes(`10.${octet}.`) && !l.includes(`${cluster.chainPrefix}-`));
      if (rules.length) out.push(`iptables: ${rules.join(' | ')}`);
      return out;
    },
    async stop() {
      try { await env.stopAgent(true); } catch { /* sweep below */ }
      // Sweep whatever a failed drain left: processes in our cgroups, mounts, links.
      try { execFileSync('sh', ['-c', `for c in $(ls ${runDir}/runc 2>/dev/null); do runc --root ${runDir}/runc delete --force $c; done`], { stdio: 'ignore' }); } catch { /* best effort */ }
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((p): p is string => !!p && (p.startsWith(agentDir) || p.startsWith(runDir)));
      for (const m of mounts.reverse()) { try { execFileSync('umount', ['-l', m], { stdio: 'ignore' }); } catch { /* gone */ } }
      try { execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' }); } catch { /* gone */ }
      for (const d of ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpu', '/sys/fs/cgroup/pids', '/sys/fs/cgroup/cpuset', '/sys/fs/cgroup/devices', '/sys/fs/cgroup/blkio', '/sys/fs/cgroup/freezer', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup']) {
        const p = join(d, cgroupRoot);
        if (existsSync(p)) { try { execFileSync('sh', ['-c', `find ${p} -depth -type d -exec rmdir {} \\; 2>/dev/null`], { stdio: 'ignore' }); } catch { /* busy */ } }
      }
      try { execFileSync('sh', ['-c', `iptables-save | grep -q "${bridge}" && true`], { stdio: 'ignore' }); } catch { /* none */ }
      // The agent's proxy removes its chains (or table) on exit; not when it was killed.
      await cleanupAllModes(makeExec(), cluster.chainPrefix).catch(() => undefined);
      rmSync(runDir, { recursive: true, force: true });
      rmSync(agentDir, { recursive: true, force: true });
      client.close();
      await registry?.stop().catch(() => undefined);
      await cluster.stop();
    },
  };
  try {
    registry = await startRegistry();
    env.registry = registry;
    await registry.push(await busyboxImage(), 'test/busybox:1');
    await registry.push(await nginxImage(80), 'test/nginx:1');
    env.busybox = `${registry.host}/test/busybox:1`;
    env.nginx = `${registry.host}/test/nginx:1`;
    await env.startAgent();
  } catch (e) {
    await env.stop();
    throw e;
  }
  return env;
}

export async function kubectlApply(env: KubeletEnv, yaml: string): Promise<void> {
  const r = await env.cluster.kubectl(['apply', '-f', '-'], { input: yaml });
  if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
}
