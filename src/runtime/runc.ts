// The built-in CRI runtime: pod sandboxes are persistent namespaces + CNI, containers
// run under runc through a small detached C shim (shim.ts), images come from the store in
// images/. All state is in files so a restarted agent adopts what is running:
//   <dataDir>/agent/sandboxes/<id>/   sandbox.json, hosts, resolv.conf, hostname, shm/
//   <dataDir>/agent/containers/<id>/  container.json, config.json (the bundle), rootfs/,
//                                     upper/ work/ (overlay), shim files (pid, exit.json...)
//   <runDir>/runc                     runc --root (tmpfs: gone after reboot, as it should)
//   <runDir>/ns/<sandbox id>/         net ipc uts namespace bind mounts
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile, rm, readdir, stat, lstat } from 'node:fs/promises';
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { join, isAbsolute, dirname, relative } from 'node:path';
import { availableParallelism } from 'node:os';
import {
  NotFoundError, ImagePullError, nowNanos,
  type CriRuntime, type PodSandboxConfig, type PodSandboxStatus, type PodSandbox, type PodSandboxFilter,
  type ContainerConfig, type ContainerStatus, type Container, type ContainerFilter, type ExecSyncResponse,
  type ExecRequest, type ExecStreams, type VersionResponse, type Image, type ImageSpec, type ImageFilter,
  type AuthConfig, type PullProgress, type PodSandboxState, type ContainerState, type StringMap,
} from './cri.js';
import { ImageStore, type ImageConfig, type ImageRecord } from './images/store.js';
import { Cni, resultIP } from './cni.js';
import { buildSpec } from './spec.js';
import { ensureShim } from './shim.js';
import { Launcher } from './launcher.js';
import { Gate } from './gate.js';
import { markStart, startTracing } from './start-trace.js';
import { logger } from '../util/log.js';
import { VERSION } from '../util/version.js';

const execFileP = promisify(execFile);
const log = logger('runtime');

export interface RuncRuntimeOptions {
  /** The node's data dir (default /var/lib/jotasu); state goes under <dataDir>/agent. */
  dataDir: string;
  /** Volatile state: runc root and namespace mounts (default /run/jotasu). */
  runDir?: string;
  /** The node's pod CIDR for host-local IPAM (default 10.42.0.0/24). */
  podCIDR?: string;
  /** Linux bridge for pods (default jotasu0). */
  bridge?: string;
  cniBinDir?: string;
  /** Root cgroup of every container (default jotasu). */
  cgroupRoot?: string;
  runc?: string;
  insecureRegistries?: string[];
  /** Default pids limit per container (0 = none). */
  defaultPidsLimit?: number;
  /** The shim rotates a container's log past this size (kubelet's containerLogMaxSize, default 10Mi; 0 = never). */
  containerLogMaxSize?: number;
  /** Log files kept per container, the live one included (kubelet's containerLogMaxFiles, default 5). */
  containerLogMaxFiles?: number;
  /** Pod sandboxes and container starts run at once at most (0: no limit; default max(4, 2 per CPU)). */
  maxParallelStarts?: number;
  /** A prebuilt jotasu-shim binary (default: compiled from source into <dataDir>/agent/bin). */
  shimBinary?: string;
}

interface SandboxRecord {
  id: string;
  config: PodSandboxConfig;
  createdAt: string;
  state: PodSandboxState;
  ip?: string;
  netns?: string;
  ipcns?: string;
  utsns?: string;
  cgroup: string;
}

interface ContainerRecord {
  id: string;
  sandboxId: string;
  config: ContainerConfig;
  imageRef: string;
  imageRepoDigest?: string;
  createdAt: string;
  logPath: string;
  rootfs: string;
  /** The root is an overlay mount (unmounted on removal). */
  overlay: boolean;
  /**
   * Overlay lowerdirs when the shim mounts the root at start (upper/ and work/ beside
   * rootfs/); absent in records of older agents, which mounted it at create.
   */
  overlayLower?: string;
  cgroupsPath: string;
  stopSignal: string;
  startedAt?: string;
}

interface ExitInfo { exitCode: number; finishedAt: string; oomKilled: number }

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const newId = () => randomBytes(32).toString('hex');

function epochToNanos(s: string | undefined): bigint {
  if (!s) return 0n;
  const [sec, frac = ''] = s.split('.');
  return BigInt(sec!) * 1_000_000_000n + BigInt((frac + '000000000').slice(0, 9));
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

function matchLabels(labels: StringMap, sel?: StringMap): boolean {
  return !sel || Object.entries(sel).every(([k, v]) => labels[k] === v);
}

/** Runs a command to completion (through the launcher when there is one); its stdout, or an error naming `what`. */
async function run(cmd: string, args: string[], what: string, launcher?: Launcher): Promise<string> {
  if (launcher) {
    let r;
    try { r = await launcher.run([cmd, ...args]); } catch (e) { throw new Error(`${what}: ${(e as Error).message}`); }
    if (r.code === 0) return r.stdout.toString('utf8');
    const why = r.stderr.toString('utf8').trim() || r.stdout.toString('utf8').trim() || `${cmd} exited ${r.signal ? `on signal ${r.signal}` : `with status ${r.code}`}`;
    throw new Error(`${what}: ${why}`);
  }
  try {
    const { stdout } = await execFileP(cmd, args, { maxBuffer: 16 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${what}: ${(err.stderr || err.message).trim()}`);
  }
}

export class RuncRuntime implements CriRuntime {
  readonly agentDir: string;
  readonly runDir: string;
  readonly images: ImageStore;
  readonly cni: Cni;
  private readonly runcRoot: string;
  private readonly runcBin: string;
  private shimPath = '';
  /** Spawns for the runtime (see launcher.ts); created in init() with the shim binary. */
  launcher?: Launcher;
  /** The heavy steps of pod starts (namespaces + CNI, shim + runc), as a pipeline (gate.ts). */
  private readonly gate: Gate;
  /** Whether overlayfs works here (probed once in init); else layers are copied. */
  private overlayOk = false;
  private readonly cgroupRoot: string;
  private readonly cgroupV2: boolean;
  private readonly sandboxes = new Map<string, SandboxRecord>();
  private readonly containers = new Map<string, ContainerRecord>();
  /**
   * Per container, what its files say once and for all: the init's pid (the pid file is
   * written once by runc) and the exit (exit.json is written once). state() ran 3 file
   * reads per call, twice per container per sync, the agent's largest cost after spawns.
   */
  private readonly knownPid = new Map<string, number>();
  private readonly knownExit = new Map<string, ExitInfo>();
  /** Files of images as containers see them (readFromLayers), by image id and path. */
  private readonly imageFiles = new Map<string, string>();
  /** Containers this agent created and has not tried to start: CREATED, with nothing on disk to look at. */
  private readonly unstarted = new Set<string>();

  constructor(readonly opts: RuncRuntimeOptions) {
    this.agentDir = join(opts.dataDir, 'agent');
    this.runDir = opts.runDir ?? '/run/jotasu';
    this.runcRoot = join(this.runDir, 'runc');
    this.runcBin = opts.runc ?? 'runc';
    this.cgroupRoot = opts.cgroupRoot ?? 'jotasu';
    this.cgroupV2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
    this.gate = new Gate(opts.maxParallelStarts ?? defaultParallelStarts());
    this.images = new ImageStore(this.agentDir, { insecureRegistries: opts.insecureRegistries });
    this.cni = new Cni({
      binDir: opts.cniBinDir ?? '/usr/lib/cni',
      stateDir: join(this.agentDir, 'cni'),
      bridge: opts.bridge ?? 'jotasu0',
      podCIDR: opts.podCIDR ?? '10.42.0.0/24',
    });
  }

  /** Creates directories, installs the shim, and adopts sandboxes/containers left by a previous agent. */
  async init(): Promise<void> {
    for (const d of ['sandboxes', 'containers', 'bin', 'logs']) await mkdir(join(this.agentDir, d), { recursive: true });
    await mkdir(this.runcRoot, { recursive: true });
    await mkdir(join(this.runDir, 'ns'), { recursive: true });
    this.shimPath = this.opts.shimBinary ?? await ensureShim(join(this.agentDir, 'bin'));
    this.launcher?.close();
    this.launcher = new Launcher(this.shimPath);
    this.cni.launch = (argv, o) => this.launcher!.run(argv, o);
    this.overlayOk = await this.probeOverlay();
    await this.images.init();
    await this.cni.init();
    for (const id of await readdir(join(this.agentDir, 'sandboxes'))) {
      try { this.sandboxes.set(id, JSON.parse(await readFile(join(this.agentDir, 'sandboxes', id, 'sandbox.json'), 'utf8'))); }
      catch { /* half-created: removePodSandbox will clean */ }
    }
    for (const id of await readdir(join(this.agentDir, 'containers'))) {
      try { this.containers.set(id, JSON.parse(await readFile(join(this.agentDir, 'containers', id, 'container.json'), 'utf8'))); }
      catch { /* half-created */ }
    }
    // Adopted pods keep their masquerade rule (a rule left by a crashed agent without pods goes).
    await this.syncMasquerade().catch((e: Error) => log.warn({ err: e.message }, 'pod masquerade rules'));
    log.info({ sandboxes: this.sandboxes.size, containers: this.containers.size, cgroupV2: this.cgroupV2 }, 'runtime ready');
  }

  /** Mounts a throw-away overlay once: the shim mounts roots at start, so failures must be known before. */
  private async probeOverlay(): Promise<boolean> {
    const d = join(this.agentDir, `overlay-probe-${randomBytes(4).toString('hex')}`);
    for (const s of ['l', 'u', 'w', 'm']) await mkdir(join(d, s), { recursive: true });
    try {
      await this.run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${join(d, 'l')},upperdir=${join(d, 'u')},workdir=${join(d, 'w')}`, join(d, 'm')], 'overlay probe');
      await this.run('umount', [join(d, 'm')], 'overlay probe');
      return true;
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'overlayfs unavailable; container roots will be copies of the layers');
      return false;
    } finally {
      await rm(d, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  async version(): Promise<VersionResponse> {
    const out = await this.run(this.runcBin, ['--version'], 'runc --version').catch(() => '');
    return {
      version: '0.1.0', runtimeName: 'jotasu-runc',
      runtimeVersion: `${VERSION} (${/runc version (\S+)/.exec(out)?.[1] ?? 'runc unknown'})`,
      runtimeApiVersion: 'v1',
    };
  }

  private run(cmd: string, args: string[], what: string): Promise<string> {
    return run(cmd, args, what, this.launcher);
  }

  async mountTmpfs(path: string, options: string): Promise<void> {
    await this.run(this.shimPath, ['--tmpfs', options, path], `mounting a tmpfs on ${path}`);
  }

  async unmount(paths: string[]): Promise<void> {
    if (paths.length) await this.run(this.shimPath, ['--umount', ...paths], 'unmounting pod volumes');
  }

  /** Stops the launcher (containers and their shims keep running). */
  close(): void {
    this.launcher?.close();
    this.launcher = undefined;
  }

  private sandboxDir(id: string): string { return join(this.agentDir, 'sandboxes', id); }
  private containerDir(id: string): string { return join(this.agentDir, 'containers', id); }
  private nsDir(id: string): string { return join(this.runDir, 'ns', id); }

  // The small state files of a pod start (records, bundle, pod files, directories) are
  // written with synchronous calls: each is a few page-cache syscalls (~10 us, no fsync),
  // while each thread-pool round trip of the promise API costs two thread wake-ups, which on
  // a saturated CPU (a pod burst) waited milliseconds each, ~30 per pod start.

  private async saveSandbox(s: SandboxRecord): Promise<void> {
    const p = join(this.sandboxDir(s.id), 'sandbox.json');
    writeFileSync(`${p}.tmp`, JSON.stringify(s));
    renameSync(`${p}.tmp`, p);
  }

  private async saveContainer(c: ContainerRecord): Promise<void> {
    const p = join(this.containerDir(c.id), 'container.json');
    writeFileSync(`${p}.tmp`, JSON.stringify(c));
    renameSync(`${p}.tmp`, p);
  }

  private getSandbox(id: string): SandboxRecord {
    const s = this.sandboxes.get(id);
    if (!s) throw new NotFoundError(`pod sandbox "${id}" not found`);
    return s;
  }

  private getContainer(id: string): ContainerRecord {
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError(`container "${id}" not found`);
    return c;
  }

  // ---- sandboxes ----

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    const id = newId();
    const dir = this.sandboxDir(id);
    mkdirSync(dir, { recursive: true });
    const ns = config.linux?.securityContext?.namespaceOptions ?? {};
    const hostNet = ns.network === 'NODE';
    const hostIpc = ns.ipc === 'NODE';
    const hostname = config.hostname || config.metadata.name;
    const rec: SandboxRecord = {
      id, config, createdAt: String(nowNanos()), state: 'SANDBOX_NOTREADY',
      cgroup: `/${this.cgroupRoot}/${(config.linux?.cgroupParent || `pod-${id.slice(0, 12)}`).replace(/^\/+/, '')}`,
    };
    this.sandboxes.set(id, rec);
    try {
      await this.saveSandbox(rec);
      // Persistent namespaces held by bind mounts (no pause process). One exec of the
      // shim binary's --sandbox mode creates them, sets the hostname, brings lo up (the
      // loopback plugin's job) and mounts /dev/shm: it was unshare, sh, mount and loopback.
      const nsd = this.nsDir(id);
      mkdirSync(nsd, { recursive: true });
      const args = ['--sandbox'];
      for (const [kind, skip] of [['net', hostNet], ['ipc', hostIpc], ['uts', hostNet]] as const) {
        if (!skip) args.push(`--${kind}`, join(nsd, kind));
      }
      if (!hostNet) { rec.netns = join(nsd, 'net'); rec.utsns = join(nsd, 'uts'); args.push('--hostname', hostname); }
      if (!hostIpc) rec.ipcns = join(nsd, 'ipc');
      mkdirSync(join(dir, 'shm'), { recursive: true });
      args.push('--shm', join(dir, 'shm'));
      const uid = config.metadata.uid;
      await this.gate.run(async () => {
        markStart(uid, 'gate');
        await this.run(this.shimPath, args, 'creating pod namespaces and /dev/shm');
        markStart(uid, 'netns');
        if (rec.netns) {
          await this.syncMasquerade();
          markStart(uid, 'masquerade');
          const res = await this.cni.add(id, rec.netns, config.portMappings ?? [], { loopbackUp: true });
          rec.ip = resultIP(res);
          markStart(uid, 'cni');
        }
      });
      await this.writePodFiles(rec, hostname, hostNet);
      rec.state = 'SANDBOX_READY';
      await this.saveSandbox(rec);
      markStart(uid, 'podfiles');
      log.info({ sandbox: id, pod: `${config.metadata.namespace}/${config.metadata.name}`, ip: rec.ip }, 'sandbox ready');
      return id;
    } catch (e) {
      await this.removePodSandbox(id).catch((e2) => log.warn({ err: (e2 as Error).message, sandbox: id }, 'cleanup after failed sandbox'));
      throw new Error(`failed to create pod sandbox for ${config.metadata.namespace}/${config.metadata.name}: ${(e as Error).message}`);
    }
  }

  private async writePodFiles(s: SandboxRecord, hostname: string, hostNet: boolean): Promise<void> {
    const dir = this.sandboxDir(s.id);
    if (hostNet) {
      copyFileSync('/etc/hosts', join(dir, 'hosts'));
    } else {
      writeFileSync(join(dir, 'hosts'), [
        '# Kubernetes-managed hosts file (jotasu).',
        '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback',
        'fe00::0\tip6-localnet', 'fe00::0\tip6-mcastprefix', 'fe00::1\tip6-allnodes', 'fe00::2\tip6-allrouters',
        ...(s.ip ? [`${s.ip}\t${hostname}`] : []), '',
      ].join('\n'));
    }
    const dns = s.config.dnsConfig;
    if (dns && (dns.servers.length || dns.searches.length || dns.options.length)) {
      const lines = [
        ...(dns.searches.length ? [`search ${dns.searches.join(' ')}`] : []),
        ...dns.servers.map((n) => `nameserver ${n}`),
        ...(dns.options.length ? [`options ${dns.options.join(' ')}`] : []),
      ];
      writeFileSync(join(dir, 'resolv.conf'), lines.join('\n') + '\n');
    } else {
      try { copyFileSync('/etc/resolv.conf', join(dir, 'resolv.conf')); } catch { writeFileSync(join(dir, 'resolv.conf'), ''); }
    }
    writeFileSync(join(dir, 'hostname'), `${hostname}\n`);
  }

  async stopPodSandbox(id: string): Promise<void> {
    const s = this.getSandbox(id);
    for (const c of this.containers.values()) if (c.sandboxId === id) await this.stopContainer(c.id, 0);
    if (s.netns && existsSync(s.netns)) {
      await this.cni.del(id, s.netns, s.config.portMappings).catch((e) => {
        log.warn({ sandbox: id, err: (e as Error).message }, 'CNI DEL failed');
      });
    }
    s.state = 'SANDBOX_NOTREADY';
    await this.saveSandbox(s);
  }

  async removePodSandbox(id: string): Promise<void> {
    const s = this.sandboxes.get(id);
    if (!s) return; // CRI: removing a missing sandbox is not an error.
    for (const c of [...this.containers.values()]) if (c.sandboxId === id) await this.removeContainer(c.id);
    if (s.netns && existsSync(s.netns)) {
      await this.cni.del(id, s.netns, s.config.portMappings).catch((e) => log.warn({ sandbox: id, err: (e as Error).message }, 'CNI DEL failed'));
    }
    const nsd = this.nsDir(id);
    const dir = this.sandboxDir(id);
    // One exec for the namespace files and shm (was one umount each).
    const mounts = [...['net', 'ipc', 'uts'].map((k) => join(nsd, k)).filter((p) => existsSync(p)), join(dir, 'shm')];
    await this.run(this.shimPath, ['--umount', ...mounts], 'unmounting pod namespaces and shm')
      .catch((e: Error) => log.warn({ sandbox: id, err: e.message }, 'unmount'));
    await rm(nsd, { recursive: true, force: true });
    await this.removeCgroup(s.cgroup);
    await rm(dir, { recursive: true, force: true });
    this.sandboxes.delete(id);
    if (s.netns) await this.syncMasquerade().catch((e: Error) => log.warn({ err: e.message }, 'removing the pod masquerade rules'));
  }

  private masqSync: Promise<void> = Promise.resolve();
  /** The node's masquerade rules are in place (known after the first check). */
  private masqInstalled?: boolean;

  /**
   * Pods' traffic leaving the pod CIDR is masqueraded by one node-wide rule, present while
   * some sandbox has a pod network and removed with the last one. The bridge plugin's
   * ipMasq did the same per pod with its own chain: ~9 iptables execs per pod on ADD (and
   * more on DEL), all serialized on the xtables lock, the largest CPU cost of a pod start.
   */
  private syncMasquerade(): Promise<void> {
    const next = this.masqSync.then(async () => {
      const want = [...this.sandboxes.values()].some((s) => s.netns);
      if (this.masqInstalled === undefined) this.masqInstalled = await this.cni.masqueradeInstalled(this.run.bind(this));
      if (want === this.masqInstalled) return;
      if (want) await this.cni.installMasquerade(this.run.bind(this));
      else await this.cni.removeMasquerade(this.run.bind(this));
      this.masqInstalled = want;
    });
    this.masqSync = next.catch(() => undefined);
    return next;
  }

  /** rmdir the sandbox's cgroup in every hierarchy (containers' leaves are gone by then). */
  private async removeCgroup(path: string): Promise<void> {
    const roots = this.cgroupV2 ? ['/sys/fs/cgroup'] : (await readdir('/sys/fs/cgroup').catch(() => [] as string[])).map((d) => join('/sys/fs/cgroup', d));
    for (const r of roots) {
      const p = join(r, path);
      if (!existsSync(p)) continue;
      // Leaves first (anything a crashed container left), then the sandbox dir itself.
      for (const sub of await readdir(p, { withFileTypes: true }).catch(() => [])) {
        if (sub.isDirectory()) await rmdirQuiet(join(p, sub.name));
      }
      await rmdirQuiet(p);
    }
  }

  async podSandboxStatus(id: string): Promise<PodSandboxStatus> {
    const s = this.getSandbox(id);
    return {
      id, metadata: s.config.metadata, state: s.state, createdAt: BigInt(s.createdAt),
      network: s.ip ? { ip: s.ip } : undefined,
      linux: { namespaces: { options: s.config.linux?.securityContext?.namespaceOptions, paths: { network: s.netns, ipc: s.ipcns, uts: s.utsns } } },
      labels: s.config.labels ?? {}, annotations: s.config.annotations ?? {},
    };
  }

  async listPodSandbox(filter?: PodSandboxFilter): Promise<PodSandbox[]> {
    return [...this.sandboxes.values()]
      .filter((s) => (!filter?.id || s.id.startsWith(filter.id)) && (!filter?.state || s.state === filter.state)
        && matchLabels(s.config.labels ?? {}, filter?.labelSelector))
      .map((s) => ({ id: s.id, metadata: s.config.metadata, state: s.state, createdAt: BigInt(s.createdAt),
        labels: s.config.labels ?? {}, annotations: s.config.annotations ?? {} }));
  }

  // ---- containers ----

  async createContainer(sandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const s = this.getSandbox(sandboxId);
    const img = await this.images.find(config.image.image);
    if (!img) throw new NotFoundError(`image "${config.image.image}" not present on the node`);
    const icfg = await this.images.config(img);
    const id = newId();
    const dir = this.containerDir(id);
    mkdirSync(dir, { recursive: true });
    const rootfs = join(dir, 'rootfs');
    let overlay = false;
    let overlayLower: string | undefined;
    try {
      let readRootfs: (rel: string) => Promise<string>;
      if (this.overlayOk) {
        // The shim mounts the overlay at start; until then files come from the layers.
        const layers = await this.images.layerDirs(img);
        mkdirSync(rootfs);
        if (layers.length) {
          mkdirSync(join(dir, 'upper'));
          mkdirSync(join(dir, 'work'));
          overlay = true;
          overlayLower = [...layers].reverse().join(':');
        }
        readRootfs = (rel) => this.readFromLayers(img, rel);
      } else {
        await this.copyLayers(img, rootfs);
        readRootfs = (rel) => readFile(join(rootfs, rel), 'utf8').catch(() => '');
      }
      const spec = await this.specFor(id, s, config, sandboxConfig, icfg, rootfs, readRootfs);
      writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
      markStart(s.config.metadata.uid, 'spec');
      const logDir = sandboxConfig.logDirectory ?? s.config.logDirectory;
      const logPath = config.logPath
        ? (isAbsolute(config.logPath) ? config.logPath : join(logDir ?? join(this.agentDir, 'logs', sandboxId), config.logPath))
        : join(logDir ?? join(this.agentDir, 'logs', sandboxId), `${config.metadata.name}_${config.metadata.attempt ?? 0}.log`);
      mkdirSync(dirname(logPath), { recursive: true });
      const rec: ContainerRecord = {
        id, sandboxId, config, imageRef: img.id, imageRepoDigest: img.repoDigests[0], createdAt: String(nowNanos()),
        logPath, rootfs, overlay, overlayLower, cgroupsPath: (spec.linux as { cgroupsPath: string }).cgroupsPath,
        stopSignal: icfg.config?.StopSignal ?? 'SIGTERM',
      };
      await this.saveContainer(rec);
      this.containers.set(id, rec);
      this.unstarted.add(id);
      markStart(s.config.metadata.uid, 'created');
      return id;
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`failed to create container "${config.metadata.name}" in sandbox ${sandboxId.slice(0, 12)}: ${(e as Error).message}`);
    }
  }

  /**
   * A file of the image as the container will see it, read from the unpacked layers
   * (top down; a whiteout or an opaque parent hides what is below), '' when absent.
   */
  private async readFromLayers(img: ImageRecord, rel: string): Promise<string> {
    // Layers never change: each image's /etc/passwd and /etc/group are read once, not per container.
    const key = `${img.id}\0${rel}`;
    const known = this.imageFiles.get(key);
    if (known !== undefined) return known;
    const text = await this.readFromLayersUncached(img, rel);
    if (this.imageFiles.size >= 256) this.imageFiles.clear();
    this.imageFiles.set(key, text);
    return text;
  }

  private async readFromLayersUncached(img: ImageRecord, rel: string): Promise<string> {
    const parents = rel.split('/').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('/'));
    for (const l of [...img.layers].reverse()) {
      const p = join(this.images.layerDir(l.diffId), rel);
      const st = await lstat(p).catch(() => null);
      if (st) return st.isFile() ? readFile(p, 'utf8').catch(() => '') : '';
      const meta = await this.images.layerMeta(l.diffId);
      if (meta?.whiteouts.some((w) => w === rel || parents.includes(w))) return '';
      if (meta?.opaques.some((o) => o === '' || parents.includes(o))) return '';
    }
    return '';
  }

  /** Without overlayfs: the layers copied into rootfs, whiteouts applied. */
  private async copyLayers(img: ImageRecord, rootfs: string): Promise<void> {
    await mkdir(rootfs, { recursive: true });
    for (const l of img.layers) {
      const meta = await this.images.layerMeta(l.diffId);
      for (const w of meta?.whiteouts ?? []) await rm(join(rootfs, w), { recursive: true, force: true });
      for (const o of meta?.opaques ?? []) {
        const p = join(rootfs, o);
        for (const f of await readdir(p).catch(() => [] as string[])) await rm(join(p, f), { recursive: true, force: true });
      }
      await this.run('cp', ['-a', `${this.images.layerDir(l.diffId)}/.`, rootfs], 'copying layer');
      for (const w of meta?.whiteouts ?? []) await rm(join(rootfs, w), { force: true }); // the 0:0 device copies
    }
  }

  private async specFor(id: string, s: SandboxRecord, c: ContainerConfig, sc: PodSandboxConfig, icfg: ImageConfig, rootfs: string,
    readRootfs: (rel: string) => Promise<string>): Promise<Record<string, unknown>> {
    const ic = icfg.config ?? {};
    let args: string[];
    if (c.command?.length) args = [...c.command, ...(c.args ?? [])];
    else args = [...(ic.Entrypoint ?? []), ...(c.args?.length ? c.args : (ic.Cmd ?? []))];
    if (!args.length) throw new Error('no command specified');

    const env = new Map<string, string>();
    for (const e of ic.Env ?? []) { const i = e.indexOf('='); env.set(i < 0 ? e : e.slice(0, i), i < 0 ? '' : e.slice(i + 1)); }
    if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
    env.set('HOSTNAME', sc.hostname || sc.metadata.name);
    for (const kv of c.envs ?? []) env.set(kv.key, kv.value);

    const sec = c.linux?.securityContext ?? {};
    const user = await resolveUser(readRootfs, sec.runAsUser, sec.runAsGroup, sec.runAsUsername ?? ic.User);
    const sbxSec = sc.linux?.securityContext ?? {};
    const gids = [...new Set([...user.groups, ...(sec.supplementalGroups ?? sbxSec.supplementalGroups ?? [])])];
    const privileged = !!sec.privileged;
    const readonlyRootfs = !!sec.readonlyRootfs;
    const sdir = this.sandboxDir(s.id);
    const binds = [
      { source: join(sdir, 'hosts'), destination: '/etc/hosts', readonly: readonlyRootfs },
      { source: join(sdir, 'resolv.conf'), destination: '/etc/resolv.conf', readonly: readonlyRootfs },
      { source: join(sdir, 'hostname'), destination: '/etc/hostname', readonly: readonlyRootfs },
      { source: join(sdir, 'shm'), destination: '/dev/shm', readonly: false },
    ].filter((b) => !(c.mounts ?? []).some((m) => m.containerPath === b.destination));
    for (const m of c.mounts ?? []) {
      if (!existsSync(m.hostPath)) throw new Error(`mount source path "${m.hostPath}" does not exist`);
      binds.push({ source: m.hostPath, destination: m.containerPath, readonly: !!m.readonly, propagation: m.propagation } as typeof binds[0]);
    }
    const r = c.linux?.resources ?? {};
    const pidNs = sec.namespaceOptions?.pid === 'NODE' ? null : undefined;
    return buildSpec({
      rootfs, readonlyRootfs, args, env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: c.workingDir || ic.WorkingDir || '/', uid: user.uid, gid: user.gid, additionalGids: gids,
      tty: !!c.tty, capAdd: sec.capabilities?.addCapabilities ?? [], capDrop: sec.capabilities?.dropCapabilities ?? [],
      privileged, noNewPrivileges: !!sec.noNewPrivs, binds,
      namespaces: { network: s.netns, ipc: s.ipcns, uts: s.utsns, pid: pidNs },
      cgroupsPath: `${s.cgroup}/${id}`,
      resources: {
        memoryLimit: r.memoryLimitInBytes, cpuShares: r.cpuShares, cpuQuota: r.cpuQuota, cpuPeriod: r.cpuPeriod,
        pidsLimit: r.pidsLimit ?? this.opts.defaultPidsLimit, cpusetCpus: r.cpusetCpus, cpusetMems: r.cpusetMems,
      },
      oomScoreAdj: r.oomScoreAdj, maskedPaths: sec.maskedPaths, readonlyPaths: sec.readonlyPaths,
      sysctls: sc.linux?.sysctls, annotations: c.annotations, cgroupV2: this.cgroupV2,
    });
  }

  private oomFile(c: ContainerRecord): string {
    return this.cgroupV2 ? join('/sys/fs/cgroup', c.cgroupsPath, 'memory.events') : join('/sys/fs/cgroup/memory', c.cgroupsPath, 'memory.oom_control');
  }

  async startContainer(id: string): Promise<void> {
    const c = this.getContainer(id);
    const dir = this.containerDir(id);
    if (c.startedAt || existsSync(join(dir, 'shim.pid'))) throw new Error(`container ${id} was already started`);
    this.unstarted.delete(id);
    if (c.config.tty) {
      // The shim has no console socket, so no terminal: say so rather than run without one.
      // Recorded as a failed start (StartError, exit 128, as containerd reports one) so the
      // restart policy applies; left CREATED, the kubelet would retry it forever.
      const why = 'tty: true is not supported by this runtime (no terminal for the container); use stdin without tty (kubectl run -i, not -it)';
      await writeFile(join(dir, 'shim.log'), `${why}\n`);
      await writeFile(join(dir, 'exit.json'), JSON.stringify({ exitCode: 128, finishedAt: (Date.now() / 1000).toFixed(6), oomKilled: 0 }));
      throw new Error(`failed to start container "${c.config.metadata.name}": ${why}`);
    }
    const args = ['--runc', this.runcBin, '--root', this.runcRoot, '--id', id, '--bundle', dir, '--dir', dir, '--log', c.logPath,
      '--oom-file', this.oomFile(c), '--sync-fd', '3',
      '--log-max-size', String(this.opts.containerLogMaxSize ?? 10 * 1024 * 1024), '--log-max-files', String(this.opts.containerLogMaxFiles ?? 5)];
    // The overlay's options relative to the container dir (the shim mounts from there): the
    // kernel prints them as given in every read of /proc/self/mountinfo, and runc reads the
    // host's mountinfo several times per container start, with ~5 mounts per pod in it
    // during a burst. Absolute, an overlay line was ~520 bytes, half of a pod's mountinfo.
    if (c.overlayLower) {
      const lower = c.overlayLower.split(':').map((l) => relative(dir, l)).join(':');
      args.push('--rootfs', c.rootfs, '--lower', lower, '--upper', 'upper', '--work', 'work');
    }
    if (c.config.stdin) args.push('--stdin', ...(c.config.stdinOnce ? ['--stdin-once'] : []));
    // The shim answers on fd 3 once `runc run -d` returned: "ok <pid>" or "err <why>".
    // Started by the launcher (detached, own session), which reaps it when it ends.
    const uid = this.sandboxes.get(c.sandboxId)?.config.metadata.uid;
    const reply = await this.gate.run(() => {
      markStart(uid, 'start gate');
      return this.launcher!.run([this.shimPath, ...args], {
        syncFd3: true, cwd: dir,
        env: { PATH: process.env.PATH ?? DEFAULT_PATH, ...(process.env.JOTASU_SHIM_TRACE || startTracing ? { JOTASU_SHIM_TRACE: '1' } : {}) },
      }).then((r) => r.stdout.toString('utf8'), (e: Error) => `err ${e.message}`);
    }, true);
    if (startTracing) {
      // The shim's own marks: its start (spawned by the launcher), the overlay mounted, runc forked.
      const log = await readFile(join(dir, 'shim.log'), 'utf8').catch(() => '');
      for (const [, what, at] of log.matchAll(/^trace (.+?) \+\S+ ms @([\d.]+)$/gm)) markStart(uid, `shim ${what}`, Number(at));
    }
    markStart(uid, 'runc run');
    if (!reply.startsWith('ok ')) {
      const why = reply.startsWith('err ') && !/^err runc run exited/.test(reply) ? reply.slice(4).trim() : await this.runcError(dir);
      // The shim answers before it writes exit.json (it first drains runc's output for up
      // to 1 s): the failed start is recorded now, so that the container reads as exited
      // with StartError at once, as containerd reports it, not as CREATED (started again).
      this.knownExit.set(id, { exitCode: 128, finishedAt: (Date.now() / 1000).toFixed(6), oomKilled: 0 });
      throw new Error(`failed to start container "${c.config.metadata.name}": ${why}`);
    }
    // The init's pid, known now: state() needs no file reads for it (it was an exit.json
    // open failing with ENOENT, and a pid file read, per container per relist until then).
    const pid = Number(reply.slice(3).trim());
    if (pid > 0) this.knownPid.set(id, pid);
    // runc writes the pid file right after the process starts: its mtime is the start time.
    const m = statSync(join(dir, 'pid'), { throwIfNoEntry: false });
    c.startedAt = String(m ? BigInt(Math.round(m.mtimeMs * 1000)) * 1000n : nowNanos());
    await this.saveContainer(c);
    markStart(uid, 'started');
  }

  /** The container's stdin FIFO (kept by the shim when the container has stdin: true), for attach. */
  stdinPath(id: string): string | undefined {
    const c = this.getContainer(id);
    const p = join(this.containerDir(id), 'stdin');
    return c.config.stdin && existsSync(p) ? p : undefined;
  }

  /** CRI ReopenContainerLog: the shim reopens the log file (after it was moved away). */
  async reopenContainerLog(id: string): Promise<void> {
    this.getContainer(id);
    const pid = Number((await readFile(join(this.containerDir(id), 'shim.pid'), 'utf8').catch(() => '0')).trim());
    if (!pid || !pidAlive(pid)) throw new Error(`container ${id} is not running`);
    process.kill(pid, 'SIGUSR1');
  }

  /** The last error runc logged (its JSON log), for StartError messages. */
  private async runcError(dir: string): Promise<string> {
    const text = await readFile(join(dir, 'runc.log'), 'utf8').catch(() => '');
    const errs = text.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l) as { level?: string; msg?: string }; } catch { return { msg: l }; } })
      .filter((l) => l.level === 'error' || l.level === 'fatal');
    if (errs.length) return errs.at(-1)!.msg!;
    // No runc error: the shim failed before runc (the overlay mount, say).
    const shim = (await readFile(join(dir, 'shim.log'), 'utf8').catch(() => '')).trim().split('\n').at(-1);
    return shim || 'runc exited before the container started';
  }

  private async exitInfo(id: string): Promise<ExitInfo | null> {
    const known = this.knownExit.get(id);
    if (known) return known;
    try {
      const e = JSON.parse(await readFile(join(this.containerDir(id), 'exit.json'), 'utf8')) as ExitInfo;
      if (this.containers.has(id)) this.knownExit.set(id, e);
      return e;
    } catch { return null; }
  }

  private async state(c: ContainerRecord): Promise<{ state: ContainerState; pid?: number; exit?: ExitInfo }> {
    const known = this.knownExit.get(c.id);
    if (known) return { state: 'CONTAINER_EXITED', exit: known };
    if (this.unstarted.has(c.id)) return { state: 'CONTAINER_CREATED' };
    // While its init lives a container has no exit.json (the shim writes it after reaping
    // the init), so a live known pid needs no file read: listing 50 running containers
    // was 50 failed opens (each an exception) per PLEG relist and per pod sync. A pid
    // reused by another process would have to wrap the pid space between two relists.
    let pid = this.knownPid.get(c.id);
    if (pid && pidAlive(pid)) return { state: 'CONTAINER_RUNNING', pid };
    const dir = this.containerDir(c.id);
    const exit = await this.exitInfo(c.id);
    if (exit) return { state: 'CONTAINER_EXITED', exit };
    if (!pid) {
      const pidText = await readFile(join(dir, 'pid'), 'utf8').catch(() => '');
      pid = Number(pidText.trim()) || undefined;
      if (pid && this.containers.has(c.id)) this.knownPid.set(c.id, pid);
    }
    if (pid) {
      if (pidAlive(pid)) return { state: 'CONTAINER_RUNNING', pid };
      // The process is gone and no exit.json: the shim is finishing up, or it died too.
      const shimPid = Number((await readFile(join(dir, 'shim.pid'), 'utf8').catch(() => '0')).trim());
      if (shimPid && pidAlive(shimPid)) return { state: 'CONTAINER_RUNNING', pid };
      // The shim may have written exit.json between our first look and now.
      const late = await this.exitInfo(c.id);
      return { state: 'CONTAINER_EXITED', exit: late ?? { exitCode: 255, finishedAt: '', oomKilled: 0 } };
    }
    if (existsSync(join(dir, 'shim.pid'))) {
      const shimPid = Number((await readFile(join(dir, 'shim.pid'), 'utf8').catch(() => '0')).trim());
      if (shimPid && pidAlive(shimPid)) return { state: 'CONTAINER_CREATED' };
      const late = await this.exitInfo(c.id);
      return { state: 'CONTAINER_EXITED', exit: late ?? { exitCode: 255, finishedAt: '', oomKilled: 0 } };
    }
    return { state: 'CONTAINER_CREATED' };
  }

  async containerStatus(id: string): Promise<ContainerStatus> {
    const c = this.getContainer(id);
    const st = await this.state(c);
    let reason = '';
    let message = '';
    let exitCode = 0;
    let finishedAt = 0n;
    if (st.exit) {
      exitCode = st.exit.exitCode;
      finishedAt = epochToNanos(st.exit.finishedAt);
      const started = existsSync(join(this.containerDir(id), 'pid'));
      if (!started) { reason = 'StartError'; message = await this.runcError(this.containerDir(id)); exitCode = 128; }
      else if (st.exit.oomKilled > 0) reason = 'OOMKilled';
      else if (!st.exit.finishedAt) { reason = 'Unknown'; message = 'the container shim exited without recording an exit status'; }
      else reason = exitCode === 0 ? 'Completed' : 'Error';
    }
    let startedAt = c.startedAt ? BigInt(c.startedAt) : 0n;
    if (!startedAt && st.state !== 'CONTAINER_CREATED') {
      // Started by an agent that died before recording it: the pid file's mtime is close.
      const m = await stat(join(this.containerDir(id), 'pid')).catch(() => null);
      if (m) startedAt = BigInt(Math.round(m.mtimeMs)) * 1_000_000n;
    }
    return {
      id, metadata: c.config.metadata, state: st.state, createdAt: BigInt(c.createdAt), startedAt, finishedAt, exitCode,
      image: c.config.image, imageRef: c.imageRef, imageRepoDigest: c.imageRepoDigest, reason, message,
      labels: c.config.labels ?? {}, annotations: c.config.annotations ?? {}, mounts: c.config.mounts ?? [],
      logPath: c.logPath, pid: st.pid, rootfs: c.rootfs,
    };
  }

  async listContainers(filter?: ContainerFilter): Promise<Container[]> {
    const out: Container[] = [];
    for (const c of this.containers.values()) {
      if (filter?.id && !c.id.startsWith(filter.id)) continue;
      if (filter?.podSandboxId && c.sandboxId !== filter.podSandboxId) continue;
      if (!matchLabels(c.config.labels ?? {}, filter?.labelSelector)) continue;
      const { state } = await this.state(c);
      if (filter?.state && state !== filter.state) continue;
      out.push({ id: c.id, podSandboxId: c.sandboxId, metadata: c.config.metadata, image: c.config.image, imageRef: c.imageRef,
        state, createdAt: BigInt(c.createdAt), labels: c.config.labels ?? {}, annotations: c.config.annotations ?? {} });
    }
    return out;
  }

  private async kill(id: string, signal: string): Promise<void> {
    await this.run(this.runcBin, ['--root', this.runcRoot, 'kill', id, signal], `runc kill ${signal}`).catch((e: Error) => {
      if (!/not running|does not exist|process already finished|container not running/.test(e.message)) throw e;
    });
  }

  private async waitExit(id: string, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      const c = this.containers.get(id);
      if (!c) return true;
      if ((await this.state(c)).state === 'CONTAINER_EXITED') return true;
      if (Date.now() >= deadline) return false;
      await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
    }
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    const c = this.getContainer(id);
    const st = await this.state(c);
    if (st.state === 'CONTAINER_EXITED') return;
    if (st.state === 'CONTAINER_CREATED' && !existsSync(join(this.containerDir(id), 'shim.pid'))) {
      // Never started: record it as exited so status and removal are consistent.
      await writeFile(join(this.containerDir(id), 'exit.json'), JSON.stringify({ exitCode: 0, finishedAt: String(Date.now() / 1000), oomKilled: 0 }));
      this.unstarted.delete(id);
      return;
    }
    if (timeoutSeconds > 0) {
      await this.kill(id, c.stopSignal);
      if (await this.waitExit(id, timeoutSeconds * 1000)) return;
    }
    await this.kill(id, 'SIGKILL');
    if (!(await this.waitExit(id, 10_000))) throw new Error(`container ${id} did not exit 10s after SIGKILL`);
  }

  async removeContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c) return;
    await this.stopContainer(id, 0).catch((e) => log.warn({ container: id, err: (e as Error).message }, 'stop before remove'));
    await this.run(this.runcBin, ['--root', this.runcRoot, 'delete', '--force', id], 'runc delete').catch((e: Error) => {
      if (!/does not exist|not exist/.test(e.message)) log.warn({ container: id, err: e.message }, 'runc delete');
    });
    if (c.overlay && await isMountPoint(c.rootfs)) await this.run(this.shimPath, ['--umount', c.rootfs], 'unmounting rootfs').catch(() => undefined);
    await rm(this.containerDir(id), { recursive: true, force: true });
    this.containers.delete(id);
    this.knownPid.delete(id);
    this.knownExit.delete(id);
    this.unstarted.delete(id);
  }

  async execSync(id: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResponse> {
    const c = this.getContainer(id);
    const pidFile = join(this.containerDir(c.id), `exec-${randomBytes(4).toString('hex')}.pid`);
    return new Promise((resolve, reject) => {
      const child = spawn(this.runcBin, ['--root', this.runcRoot, 'exec', '--pid-file', pidFile, id, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      const timer = timeoutSeconds > 0 ? setTimeout(async () => {
        // Killing runc exec does not kill the process it started: kill that one.
        timedOut = true;
        const pid = Number((await readFile(pidFile, 'utf8').catch(() => '0')).trim());
        if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        child.kill('SIGKILL');
      }, timeoutSeconds * 1000) : undefined;
      child.on('error', (e) => { clearTimeout(timer); reject(new Error(`runc exec in ${id}: ${e.message}`)); });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        void rm(pidFile, { force: true });
        resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), exitCode: code ?? (signal ? 137 : 1), ...(timedOut ? { timedOut } : {}) });
      });
    });
  }

  /** Streaming exec without a tty (the streaming server's hook); tty needs runc's console socket: later. */
  async exec(req: ExecRequest, streams: ExecStreams): Promise<number> {
    this.getContainer(req.containerId);
    if (req.tty) throw new Error('exec with a tty is not supported yet');
    const child = spawn(this.runcBin, ['--root', this.runcRoot, 'exec', req.containerId, ...req.cmd], {
      stdio: [streams.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    if (streams.stdin && child.stdin) streams.stdin.pipe(child.stdin);
    if (streams.stdout) child.stdout!.pipe(streams.stdout, { end: false }); else child.stdout!.resume();
    if (streams.stderr) child.stderr!.pipe(streams.stderr, { end: false }); else child.stderr!.resume();
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve(code ?? 137));
    });
  }

  // ---- images ----

  async listImages(filter?: ImageFilter): Promise<Image[]> {
    const all = await this.images.list();
    if (filter?.image?.image) {
      const one = await this.images.find(filter.image.image);
      return one ? [this.images.toCri(one)] : [];
    }
    return all.map((r) => this.images.toCri(r));
  }

  async imageStatus(image: ImageSpec): Promise<Image | null> {
    const r = await this.images.find(image.image);
    return r ? this.images.toCri(r, await this.images.config(r)) : null;
  }

  async pullImage(image: ImageSpec, auth?: AuthConfig, onProgress?: (p: PullProgress) => void): Promise<string> {
    try {
      return (await this.images.pull(image.image, auth, onProgress)).id;
    } catch (e) {
      if (e instanceof ImagePullError) throw e;
      throw new ImagePullError(`failed to pull and unpack image "${image.image}": ${(e as Error).message}`, image.image);
    }
  }

  async removeImage(image: ImageSpec): Promise<void> {
    const r = await this.images.find(image.image);
    if (!r) return;
    const inUse = [...this.containers.values()].some((c) => c.imageRef === r.id);
    if (inUse && /^(sha256:)?[a-f0-9]{12,64}$/.test(image.image)) throw new Error(`image ${r.id} is in use by a container`);
    await this.images.remove(image.image);
  }
}

/**
 * A burst of 50 pods on 2 CPUs (bench:kubelet): with no limit every pod shared the CPU and
 * all became Running at the end (p50 2.7-5.2 s, p99 3.1-5.8 s); 4 at once, p50 1.9-2.4 s,
 * p99 3.4-4.2 s; 2 at once starved the pipeline (p99 8.1 s).
 */
export function defaultParallelStarts(): number {
  return Math.max(4, 2 * availableParallelism());
}

/** A mount point differs in device from its parent (overlay roots always do). */
async function isMountPoint(p: string): Promise<boolean> {
  const [a, b] = await Promise.all([stat(p).catch(() => null), stat(dirname(p)).catch(() => null)]);
  return !!a && !!b && a.dev !== b.dev;
}

async function rmdirQuiet(p: string): Promise<void> {
  const { rmdir } = await import('node:fs/promises');
  await rmdir(p).catch(() => undefined);
}

/** Resolves uid/gid/supplementary groups like runc/containerd: numbers as is, names via the image's passwd/group. */
async function resolveUser(read: (rel: string) => Promise<string>, runAsUser?: number, runAsGroup?: number, imageUser?: string): Promise<{ uid: number; gid: number; groups: number[] }> {
  const [passwdText, groupText] = await Promise.all([read('etc/passwd'), read('etc/group')]);
  const passwd = passwdText.split('\n').map((l) => l.split(':'));
  const group = groupText.split('\n').map((l) => l.split(':'));
  let uid = 0;
  let gid: number | undefined;
  let name: string | undefined;
  if (runAsUser !== undefined) {
    uid = runAsUser;
  } else if (imageUser) {
    const [u, g] = imageUser.split(':');
    if (/^\d+$/.test(u!)) uid = Number(u);
    else {
      const e = passwd.find((p) => p[0] === u);
      if (!e) throw new Error(`unable to find user ${u}: no matching entries in passwd file`);
      uid = Number(e[2]);
    }
    if (g) {
      if (/^\d+$/.test(g)) gid = Number(g);
      else {
        const e = group.find((x) => x[0] === g);
        if (!e) throw new Error(`unable to find group ${g}: no matching entries in group file`);
        gid = Number(e[2]);
      }
    }
  }
  const pw = passwd.find((p) => p.length > 3 && Number(p[2]) === uid);
  name = pw?.[0];
  if (runAsGroup !== undefined) gid = runAsGroup;
  if (gid === undefined) gid = pw ? Number(pw[3]) : 0;
  const groups = name ? group.filter((g) => (g[3] ?? '').split(',').includes(name!)).map((g) => Number(g[2])) : [];
  return { uid, gid, groups };
}
