// The Node object of this kubelet: registration and status as upstream's
// kubelet_node_status.go. Capacity from the host (cpu, memory, ephemeral-storage of
// the data dir's file system, pods=110), allocatable minus the default hard eviction
// thresholds (memory.available<100Mi, nodefs.available<10%), addresses, nodeInfo and
// the four conditions with upstream's reasons and messages. Status is written when
// it changed and at least every 5 minutes (nodeStatusReportFrequency).
import type { Node, NodeCondition, NodeStatus } from 'kubernetes-types/core/v1.js';
import { readFileSync, statfsSync, readdirSync } from 'node:fs';
import { cpus, totalmem, freemem, hostname as osHostname, networkInterfaces, release, arch as osArch } from 'node:os';
import { execFileSync } from 'node:child_process';
import { R } from '../api/resources.js';
import { isStatusError } from '../api/errors.js';
import type { ApiClient } from '../client/types.js';
import { KUBE_VERSION } from '../util/version.js';
import { logger } from '../util/log.js';
import { rfc3339 } from './status.js';

const log = logger('kubelet-node');

export const EVICTION_MEMORY = 100 * 1024 * 1024;
export const EVICTION_NODEFS_FRACTION = 0.1;

export interface HostInfo {
  cpu: number;
  memoryBytes: number;
  storageBytes: number;
  kernel: string;
  osImage: string;
  arch: string;
  machineID: string;
  systemUUID: string;
  bootID: string;
  runcVersion: string;
  hostname: string;
}

function read(p: string): string {
  try { return readFileSync(p, 'utf8').trim(); } catch { return ''; }
}

export function goArch(a = osArch()): string {
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
}

export function osImage(): string {
  const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(read('/etc/os-release'));
  return m?.[1] ?? 'Linux';
}

export function hostInfo(dataDir: string): HostInfo {
  let runc = 'unknown';
  try { runc = /runc version (\S+)/.exec(execFileSync('runc', ['--version'], { encoding: 'utf8' }))?.[1] ?? runc; } catch { /* not installed */ }
  const machineID = read('/etc/machine-id') || read('/var/lib/dbus/machine-id');
  return {
    cpu: cpus().length,
    memoryBytes: totalmem(),
    storageBytes: fsBytes(dataDir).total,
    kernel: release(),
    osImage: osImage(),
    arch: goArch(),
    machineID,
    systemUUID: read('/sys/class/dmi/id/product_uuid').toLowerCase() || machineID,
    bootID: read('/proc/sys/kernel/random/boot_id'),
    runcVersion: runc,
    hostname: osHostname(),
  };
}

export function fsBytes(dir: string): { total: number; avail: number } {
  try {
    const s = statfsSync(dir);
    return { total: s.blocks * s.bsize, avail: s.bavail * s.bsize };
  } catch { return { total: 0, avail: 0 }; }
}

/** The node's first non-internal IPv4 (what upstream's kubelet picks without --node-ip). */
export function defaultNodeIP(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export interface Pressure { memory: boolean; disk: boolean; pid: boolean }

/** Eviction signals against the default hard thresholds. */
export function pressure(dataDir: string): Pressure {
  const fs = fsBytes(dataDir);
  const pidMax = Number(read('/proc/sys/kernel/pid_max')) || 4194304;
  let procs = 0;
  try { procs = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).length; } catch { /* none */ }
  const memAvail = Number(/MemAvailable:\s+(\d+)/.exec(read('/proc/meminfo'))?.[1] ?? 0) * 1024 || freemem();
  return {
    memory: memAvail < EVICTION_MEMORY,
    disk: fs.total > 0 && fs.avail / fs.total < EVICTION_NODEFS_FRACTION,
    pid: procs > pidMax * 0.9,
  };
}

export interface NodeConfig {
  nodeName: string;
  dataDir: string;
  nodeIP: string;
  /** Extra labels (node-role for a server node). */
  labels?: Record<string, string>;
  kubeletPort?: number;
}

export function nodeLabels(cfg: NodeConfig, info: HostInfo): Record<string, string> {
  return {
    'kubernetes.io/hostname': cfg.nodeName,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': info.arch,
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': info.arch,
    'node.kubernetes.io/instance-type': 'jotasu',
    ...(cfg.labels ?? {}),
  };
}

function kib(bytes: number): string { return `${Math.floor(bytes / 1024)}Ki`; }

export function capacityOf(info: HostInfo): { capacity: Record<string, string>; allocatable: Record<string, string> } {
  return {
    capacity: { cpu: String(info.cpu), memory: kib(info.memoryBytes), 'ephemeral-storage': kib(info.storageBytes), pods: '110' },
    allocatable: {
      cpu: String(info.cpu),
      memory: kib(Math.max(0, info.memoryBytes - EVICTION_MEMORY)),
      'ephemeral-storage': String(Math.floor(info.storageBytes * (1 - EVICTION_NODEFS_FRACTION))),
      pods: '110',
    },
  };
}

export interface ReadyState { ready: boolean; message?: string }

/** Conditions with transition times carried over from `old` when the status is unchanged. */
export function nodeConditions(p: Pressure, ready: ReadyState, old: NodeCondition[] | undefined, now: number): NodeCondition[] {
  const t = rfc3339(now);
  const c = (type: string, status: boolean, reason: string, message: string): NodeCondition => {
    const prev = old?.find((o) => o.type === type);
    const s = status ? 'True' : 'False';
    return { type, status: s, reason, message, lastHeartbeatTime: t, lastTransitionTime: prev?.status === s && prev.lastTransitionTime ? prev.lastTransitionTime : t };
  };
  return [
    p.memory ? c('MemoryPressure', true, 'KubeletHasInsufficientMemory', 'kubelet has insufficient memory available')
      : c('MemoryPressure', false, 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
    p.disk ? c('DiskPressure', true, 'KubeletHasDiskPressure', 'kubelet has disk pressure')
      : c('DiskPressure', false, 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
    p.pid ? c('PIDPressure', true, 'KubeletHasInsufficientPID', 'kubelet has insufficient PID available')
      : c('PIDPressure', false, 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    ready.ready ? c('Ready', true, 'KubeletReady', 'kubelet is posting ready status')
      : c('Ready', false, 'KubeletNotReady', ready.message ?? 'kubelet is not ready'),
  ];
}

export function nodeStatus(cfg: NodeConfig, info: HostInfo, p: Pressure, ready: ReadyState, old: NodeStatus | undefined, now: number, images?: NodeStatus['images']): NodeStatus {
  const { capacity, allocatable } = capacityOf(info);
  return {
    capacity, allocatable,
    conditions: nodeConditions(p, ready, old?.conditions, now),
    addresses: [{ type: 'InternalIP', address: cfg.nodeIP }, { type: 'Hostname', address: info.hostname }],
    daemonEndpoints: { kubeletEndpoint: { Port: cfg.kubeletPort ?? 10250 } },
    nodeInfo: {
      machineID: info.machineID, systemUUID: info.systemUUID, bootID: info.bootID,
      kernelVersion: info.kernel, osImage: info.osImage, containerRuntimeVersion: `runc://${info.runcVersion}`,
      // A 1.32 kubelet still sets kubeProxyVersion (to its own version): KEP-4004's
      // DisableNodeKubeProxyVersion gate is off by default until 1.33.
      kubeletVersion: KUBE_VERSION.gitVersion, kubeProxyVersion: KUBE_VERSION.gitVersion,
      operatingSystem: 'linux', architecture: info.arch,
    },
    ...(images ? { images } : {}),
  };
}

/** Status without heartbeat times: what decides whether something changed. */
function material(s: NodeStatus | undefined): string {
  return JSON.stringify({ ...s, conditions: s?.conditions?.map((c) => ({ ...c, lastHeartbeatTime: undefined })) });
}

const REPORT_EVERY_MS = 5 * 60_000;

/** Registers the node and keeps its status current. */
export class NodeStatusManager {
  private lastWrite = 0;
  private last?: NodeStatus;
  readonly info: HostInfo;

  constructor(private readonly client: ApiClient, readonly cfg: NodeConfig, private readonly readiness: () => ReadyState) {
    this.info = hostInfo(cfg.dataDir);
  }

  /** Create the Node (or adopt an existing one with our labels), then report status. */
  async register(): Promise<Node> {
    const nodes = this.client.resource<Node>(R.nodes);
    const labels = nodeLabels(this.cfg, this.info);
    let node: Node;
    try {
      node = await nodes.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: this.cfg.nodeName, labels, annotations: { 'node.alpha.kubernetes.io/ttl': '0' } }, spec: {} });
      log.info({ node: this.cfg.nodeName }, 'node registered');
    } catch (e) {
      if (!isStatusError(e, 'AlreadyExists')) throw new Error(`registering node ${this.cfg.nodeName}: ${(e as Error).message}`);
      node = await nodes.get(this.cfg.nodeName);
      const missing = Object.entries(labels).filter(([k, v]) => node.metadata?.labels?.[k] !== v);
      if (missing.length) node = await nodes.patch(this.cfg.nodeName, 'merge', { metadata: { labels: Object.fromEntries(missing) } });
    }
    this.last = node.status;
    await this.sync(true);
    return node;
  }

  /** Writes the status when it changed, or when the report interval passed; returns true when written. */
  async sync(force = false): Promise<boolean> {
    const now = Date.now();
    const st = nodeStatus(this.cfg, this.info, pressure(this.cfg.dataDir), this.readiness(), this.last, now);
    if (!force && material(st) === material(this.last) && now - this.lastWrite < REPORT_EVERY_MS) return false;
    const node = await this.client.resource<Node>(R.nodes).patch(this.cfg.nodeName, 'merge', { status: st }, { subresource: 'status' });
    this.last = node.status ?? st;
    this.lastWrite = now;
    return true;
  }
}
