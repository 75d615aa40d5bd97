// Pod networking by invoking the CNI plugins directly, as the CNI spec describes:
// the plugin binary gets CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/CNI_IFNAME/CNI_PATH in
// its environment and the network config (with prevResult and runtimeConfig) on stdin.
// A conflist is run in order for ADD and in reverse for DEL; the last ADD result is
// cached per sandbox so DEL/CHECK get it as prevResult (libcni does the same).
// Everything (conflist, result cache, host-local's IPAM state) lives under the data
// dir so tests and clusters never touch the host's /etc/cni or /var/lib/cni.
//
// Cheaper than a plain conflist run, with the same result for the pod: the loopback
// plugin is skipped when the sandbox helper already brought lo up; portmap only runs for
// pods with hostPorts (without, its ADD is a no-op); the bridge plugin's per-pod ipMasq
// (its own iptables chain, ~9 iptables execs per ADD) is replaced by one node-wide
// masquerade rule the runtime keeps while pods exist (installMasquerade).
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PortMapping } from './cri.js';
import type { LaunchOptions, LaunchResult } from './launcher.js';

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

/** Runs a command to completion, its stdout (the runtime's launcher-backed run). */
export type RunCommand = (cmd: string, args: string[], what: string) => Promise<string>;

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

/** What a cached ADD recorded. `masq` is absent in entries of older agents, whose bridge ran with ipMasq. */
interface CachedAdd { result: CniResult; portMappings: unknown[]; masq?: 'node' }

export class Cni {
  readonly cniVersion = '1.0.0';
  /** Set by the runtime: plugins run through its launcher instead of child_process. */
  launch?: (argv: string[], opts: LaunchOptions) => Promise<LaunchResult>;
  constructor(readonly opts: CniOptions) {}

  get name(): string { return this.opts.networkName ?? 'jotasu'; }

  /** ipMasq: the bridge plugin's per-pod masquerading (only to tear down what older agents set up). */
  conflist(ipMasq = false): { cniVersion: string; name: string; plugins: PluginConf[] } {
    return {
      cniVersion: this.cniVersion,
      name: this.name,
      plugins: [
        {
          type: 'bridge',
          bridge: this.opts.bridge,
          isGateway: true,
          ipMasq,
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
    const env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: id,
      CNI_NETNS: netns,
      CNI_IFNAME: ifname,
      CNI_PATH: this.opts.binDir,
    };
    const finish = (code: number | null, stdout: Buffer, stderr: Buffer): CniResult | null => {
      const text = stdout.toString('utf8').trim();
      if (code !== 0) {
        let msg = stderr.toString('utf8').trim() || text;
        try {
          const j = JSON.parse(text) as { code?: number; msg?: string; details?: string };
          msg = [j.msg, j.details].filter(Boolean).join(': ');
        } catch { /* plain text */ }
        throw new CniError(`plugin type="${plugin.type}" name="${this.name}" failed (${command.toLowerCase()}): ${msg}`, code ?? undefined);
      }
      try {
        return text ? (JSON.parse(text) as CniResult) : null;
      } catch (e) {
        throw new CniError(`CNI plugin ${plugin.type}: bad result: ${(e as Error).message}`);
      }
    };
    if (this.launch) {
      return this.launch([bin], { env, input: JSON.stringify(conf) }).then(
        (r) => finish(r.code, r.stdout, r.stderr),
        (e: Error) => { throw new CniError(`CNI plugin ${plugin.type} ${command}: ${e.message}`); });
    }
    return new Promise((resolve, reject) => {
      const child = spawn(bin, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', (e) => reject(new CniError(`CNI plugin ${plugin.type} ${command}: ${e.message}`)));
      child.on('close', (code) => {
        try { resolve(finish(code, Buffer.concat(out), Buffer.concat(err))); } catch (e) { reject(e as Error); }
      });
      child.stdin.end(JSON.stringify(conf));
    });
  }

  /**
   * Brings up lo in the namespace (the loopback plugin, unless `loopbackUp` says it is
   * done) and eth0 on the bridge; returns the result.
   */
  async add(id: string, netns: string, portMappings: PortMapping[] = [], opts: { loopbackUp?: boolean } = {}): Promise<CniResult> {
    if (!opts.loopbackUp) await this.exec({ type: 'loopback' }, 'ADD', id, netns, 'lo', undefined, {});
    const rc = {
      portMappings: portMappings.filter((p) => p.hostPort).map((p) => ({
        hostPort: p.hostPort, containerPort: p.containerPort, protocol: (p.protocol ?? 'TCP').toLowerCase(),
        ...(p.hostIp ? { hostIP: p.hostIp } : {}),
      })),
    };
    let prev: CniResult | undefined;
    const done: PluginConf[] = [];
    try {
      for (const p of this.plugins(rc.portMappings.length > 0, false)) {
        prev = (await this.exec(p, 'ADD', id, netns, 'eth0', prev, rc)) ?? prev;
        done.push(p);
      }
    } catch (e) {
      // Undo what was set up (IPAM allocation, iptables rules) so nothing leaks.
      await this.del(id, netns, portMappings).catch(() => undefined);
      throw e;
    }
    const cached: CachedAdd = { result: prev!, portMappings: rc.portMappings, masq: 'node' };
    writeFileSync(this.resultPath(id), JSON.stringify(cached)); // small; sync as the runtime's pod files (runc.ts)
    return prev!;
  }

  /** The conflist's plugins that matter for a pod: portmap only with host ports. */
  private plugins(hostPorts: boolean, ipMasq: boolean): PluginConf[] {
    return this.conflist(ipMasq).plugins.filter((p) => p.type !== 'portmap' || hostPorts);
  }

  // ---- node-wide masquerading (instead of the bridge plugin's per-pod ipMasq) ----

  /** Chain of the node's masquerade rules (iptables allows 28 characters; bridge names have at most 15). */
  private get masqChain(): string { return `JOTASU-MASQ-${this.opts.bridge}`; }

  /** POSTROUTING's jump: traffic from the pod CIDR goes through our chain. */
  private masqJump(): string[] {
    return ['-s', this.opts.podCIDR, '-m', 'comment', '--comment', `jotasu pods of ${this.opts.bridge}`, '-j', this.masqChain];
  }

  async masqueradeInstalled(run: RunCommand): Promise<boolean> {
    return run('iptables', ['-w', '-t', 'nat', '-C', 'POSTROUTING', ...this.masqJump()], 'checking the pod masquerade rule').then(() => true, () => false);
  }

  /**
   * The bridge plugin's ipMasq rules, once for the pod CIDR instead of once per pod: to
   * the pod network as is, multicast as is, everything else masqueraded. One
   * iptables-restore (atomic; declaring the chain flushes it, so this is idempotent).
   */
  async installMasquerade(run: RunCommand): Promise<void> {
    const q = (a: string[]) => a.map((x) => (/\s/.test(x) ? `"${x}"` : x)).join(' ');
    const present = await this.masqueradeInstalled(run);
    const rules = [
      '*nat', `:${this.masqChain} - [0:0]`,
      `-A ${this.masqChain} -d ${this.opts.podCIDR} -j ACCEPT`,
      `-A ${this.masqChain} ! -d 224.0.0.0/4 -j MASQUERADE`,
      ...(present ? [] : [`-A POSTROUTING ${q(this.masqJump())}`]),
      'COMMIT', '',
    ].join('\n');
    await this.restore(rules, 'installing the pod masquerade rules');
  }

  async removeMasquerade(run: RunCommand): Promise<void> {
    while (await this.masqueradeInstalled(run)) {
      await run('iptables', ['-w', '-t', 'nat', '-D', 'POSTROUTING', ...this.masqJump()], 'removing the pod masquerade rule');
    }
    await run('iptables', ['-w', '-t', 'nat', '-F', this.masqChain], 'flushing the pod masquerade chain').catch(() => undefined);
    await run('iptables', ['-w', '-t', 'nat', '-X', this.masqChain], 'removing the pod masquerade chain').catch(() => undefined);
  }

  private async restore(rules: string, what: string): Promise<void> {
    const r = this.launch
      ? await this.launch(['iptables-restore', '-w', '--noflush'], { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }, input: rules })
      : await new Promise<LaunchResult>((resolve, reject) => {
        const c = spawn('iptables-restore', ['-w', '--noflush'], { stdio: ['pipe', 'ignore', 'pipe'] });
        const err: Buffer[] = [];
        c.stderr.on('data', (d: Buffer) => err.push(d));
        c.on('error', reject);
        c.on('close', (code) => resolve({ code, signal: null, running: false, stdout: Buffer.alloc(0), stderr: Buffer.concat(err) }));
        c.stdin.end(rules);
      });
    if (r.code !== 0) throw new CniError(`${what}: ${r.stderr.toString('utf8').trim() || `iptables-restore exited ${r.code}`}`);
  }

  async check(id: string, netns: string): Promise<void> {
    const cached = await this.cached(id);
    if (!cached) throw new CniError(`no cached CNI result for ${id}`);
    for (const p of this.plugins(cached.portMappings.length > 0, cached.masq !== 'node')) {
      await this.exec(p, 'CHECK', id, netns, 'eth0', cached.result, { portMappings: cached.portMappings });
    }
  }

  private async cached(id: string): Promise<CachedAdd | null> {
    try {
      return JSON.parse(await readFile(this.resultPath(id), 'utf8')) as CachedAdd;
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
    // Without a cached result (an ADD that died half-way) DEL runs everything: it is idempotent.
    const plugins = cached ? this.plugins(rc.portMappings.length > 0, cached.masq !== 'node') : this.conflist(false).plugins;
    for (const p of [...plugins].reverse()) {
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
