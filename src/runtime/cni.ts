// Pod networking by invoking the CNI plugins directly, as the CNI spec describes:
// the plugin binary gets CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/CNI_IFNAME/CNI_PATH in
// its environment and the network config (with prevResult and runtimeConfig) on stdin.
// A conflist is run in order for ADD and in reverse for DEL; the last ADD result is
// cached per sandbox so DEL/CHECK get it as prevResult (libcni does the same).
// Everything (conflist, result cache, host-local's IPAM state) lives under the data
// dir so tests and clusters never touch the host's /etc/cni or /var/lib/cni.
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PortMapping } from './cri.js';

export interface CniOptions {
  /** Directory holding the plugin binaries (Debian: /usr/lib/cni). */
  binDir: string;
  /** Where the conflist, cached results and host-local state live. */
  stateDir: string;
  /** Linux bridge name (default jotasu0). */
  bridge: string;
  /** The node's pod CIDR, e.g. 10.42.0.0/24. */
  podCIDR: string;
  networkName?: string;
  mtu?: number;
}

export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: unknown[];
  dns?: unknown;
}

interface PluginConf { type: string; capabilities?: Record<string, boolean>; [k: string]: unknown }

export class CniError extends Error {
  constructor(message: string, readonly code?: number) {
    super(message);
    this.name = 'CniError';
  }
}

export class Cni {
  readonly cniVersion = '1.0.0';
  constructor(readonly opts: CniOptions) {}

  get name(): string { return this.opts.networkName ?? 'jotasu'; }

  conflist(): { cniVersion: string; name: string; plugins: PluginConf[] } {
    return {
      cniVersion: this.cniVersion,
      name: this.name,
      plugins: [
        {
          type: 'bridge',
          bridge: this.opts.bridge,
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ...(this.opts.mtu ? { mtu: this.opts.mtu } : {}),
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: this.opts.podCIDR }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: join(this.opts.stateDir, 'ipam'),
          },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    };
  }

  async init(): Promise<void> {
    await mkdir(join(this.opts.stateDir, 'results'), { recursive: true });
    await mkdir(join(this.opts.stateDir, 'ipam'), { recursive: true });
    // Written for humans and tools that want to look; the runtime uses conflist() itself.
    await writeFile(join(this.opts.stateDir, `10-${this.name}.conflist`), JSON.stringify(this.conflist(), null, 2));
  }

  private resultPath(id: string): string {
    return join(this.opts.stateDir, 'results', `${this.name}-${id}-eth0.json`);
  }

  private exec(plugin: PluginConf, command: 'ADD' | 'DEL' | 'CHECK', id: string, netns: string, ifname: string,
    prevResult: CniResult | undefined, runtimeConfig: Record<string, unknown>): Promise<CniResult | null> {
    const conf: Record<string, unknown> = { cniVersion: this.cniVersion, name: this.name, ...plugin };
    delete conf.capabilities;
    const rc: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) if (on && cap in runtimeConfig) rc[cap] = runtimeConfig[cap];
    if (Object.keys(rc).length) conf.runtimeConfig = rc;
    if (prevResult) conf.prevResult = prevResult;
    const bin = join(this.opts.binDir, plugin.type);
    return new Promise((resolve, reject) => {
      const child = spawn(bin, [], {
        env: {
          PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
          CNI_COMMAND: command,
          CNI_CONTAINERID: id,
          CNI_NETNS: netns,
          CNI_IFNAME: ifname,
          CNI_PATH: this.opts.binDir,
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', (e) => reject(new CniError(`CNI plugin ${plugin.type} ${command}: ${e.message}`)));
      child.on('close', (code) => {
        const text = Buffer.concat(out).toString('utf8').trim();
        if (code !== 0) {
          let msg = Buffer.concat(err).toString('utf8').trim() || text;
          try {
            const j = JSON.parse(text) as { code?: number; msg?: string; details?: string };
            msg = [j.msg, j.details].filter(Boolean).join(': ');
          } catch { /* plain text */ }
          reject(new CniError(`plugin type="${plugin.type}" name="${this.name}" failed (${command.toLowerCase()}): ${msg}`, code ?? undefined));
          return;
        }
        try {
          resolve(text ? (JSON.parse(text) as CniResult) : null);
        } catch (e) {
          reject(new CniError(`CNI plugin ${plugin.type}: bad result: ${(e as Error).message}`));
        }
      });
      child.stdin.end(JSON.stringify(conf));
    });
  }

  /** Brings up lo in the namespace (the loopback plugin) and eth0 on the bridge; returns the result. */
  async add(id: string, netns: string, portMappings: PortMapping[] = []): Promise<CniResult> {
    await this.exec({ type: 'loopback' }, 'ADD', id, netns, 'lo', undefined, {});
    const rc = {
      portMappings: portMappings.filter((p) => p.hostPort).map((p) => ({
        hostPort: p.hostPort, containerPort: p.containerPort, protocol: (p.protocol ?? 'TCP').toLowerCase(),
        ...(p.hostIp ? { hostIP: p.hostIp } : {}),
      })),
    };
    let prev: CniResult | undefined;
    const done: PluginConf[] = [];
    try {
      for (const p of this.conflist().plugins) {
        prev = (await this.exec(p, 'ADD', id, netns, 'eth0', prev, rc)) ?? prev;
        done.push(p);
      }
    } catch (e) {
      // Undo what was set up (IPAM allocation, iptables rules) so nothing leaks.
      await this.del(id, netns, portMappings).catch(() => undefined);
      throw e;
    }
    await writeFile(this.resultPath(id), JSON.stringify({ result: prev, portMappings: rc.portMappings }));
    return prev!;
  }

  async check(id: string, netns: string): Promise<void> {
    const cached = await this.cached(id);
    if (!cached) throw new CniError(`no cached CNI result for ${id}`);
    for (const p of this.conflist().plugins) await this.exec(p, 'CHECK', id, netns, 'eth0', cached.result, { portMappings: cached.portMappings });
  }

  private async cached(id: string): Promise<{ result: CniResult; portMappings: unknown[] } | null> {
    try {
      return JSON.parse(await readFile(this.resultPath(id), 'utf8')) as { result: CniResult; portMappings: unknown[] };
    } catch {
      return null;
    }
  }

  /** Tears down in reverse order; tolerant of a missing netns (DEL must be idempotent). */
  async del(id: string, netns: string, portMappings?: PortMapping[]): Promise<void> {
    const cached = await this.cached(id);
    const rc = { portMappings: cached?.portMappings ?? (portMappings ?? []).filter((p) => p.hostPort).map((p) => ({
      hostPort: p.hostPort, containerPort: p.containerPort, protocol: (p.protocol ?? 'TCP').toLowerCase(),
    })) };
    const errors: string[] = [];
    for (const p of [...this.conflist().plugins].reverse()) {
      try { await this.exec(p, 'DEL', id, netns, 'eth0', cached?.result, rc); } catch (e) { errors.push((e as Error).message); }
    }
    await rm(this.resultPath(id), { force: true });
    if (errors.length) throw new CniError(errors.join('; '));
  }
}

/** The first IPv4 address of a CNI result, without its prefix length. */
export function resultIP(r: CniResult): string | undefined {
  return r.ips?.find((i) => !i.address.includes(':'))?.address.split('/')[0] ?? r.ips?.[0]?.address.split('/')[0];
}
