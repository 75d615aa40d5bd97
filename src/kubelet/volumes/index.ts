// Pod volumes on the node, laid out as upstream's kubelet does:
//   <root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<volume name>
// emptyDir (a directory, or tmpfs for medium Memory), hostPath (with its type
// checks), configMap/secret/downwardAPI/projected (files written by the atomic
// writer, rewritten when their sources change). setUp is idempotent: the pod worker
// calls it on every sync, which is how updates reach running pods. Secret, projected and
// downwardAPI volumes are tmpfs mounts, as upstream's (they wrap a memory-backed
// emptyDir): tokens and secrets never reach the disk, and on this kind of host a
// volume's ~15 directory, file and symlink creations cost ~4-5 ms of kernel CPU on ext4
// against ~0.1 ms on tmpfs.
import type { ConfigMap, Container, DownwardAPIVolumeFile, KeyToPath, Pod, Secret, Volume, VolumeProjection } from 'kubernetes-types/core/v1.js';
import { mkdir, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { writeAtomic, type Projected } from './atomic-writer.js';
import { fieldRefValue, resourceFieldValue } from '../env.js';
import { quantityValue } from '../../api/quantity.js';
import { logger } from '../../util/log.js';

const execFileP = promisify(execFile);
const log = logger('kubelet-volumes');

export class MountError extends Error {
  constructor(readonly volume: string, message: string) {
    super(`MountVolume.SetUp failed for volume "${volume}" : ${message}`);
    this.name = 'MountError';
  }
}

export interface VolumeSources {
  configMap(namespace: string, name: string): ConfigMap | undefined;
  secret(namespace: string, name: string): Secret | undefined;
  /** TokenRequest for a projected service-account token: the token and its expiry (status.expirationTimestamp). */
  serviceAccountToken?(pod: Pod, audience: string | undefined, expirationSeconds: number): Promise<IssuedToken>;
  nodeAllocatable?: { cpu?: string; memory?: string };
}

export interface IssuedToken { token: string; expirationTimestamp?: string }

/** Upstream's token manager refreshes a token older than 24 h or within 20% of its lifetime of expiring. */
const MAX_TOKEN_AGE_MS = 24 * 3600_000;
/** ... less a random jitter of up to 10 s, so that a node's pods don't all ask at once. */
const MAX_REFRESH_JITTER_MS = 10_000;
/** A failed TokenRequest for a pod that still holds a valid token is tried again after this. */
const TOKEN_RETRY_MS = 30_000;

/** When a token issued with `expirationSeconds` and expiring at `expiresAt` (ms) is to be replaced. */
export function tokenRefreshAt(expiresAt: number, expirationSeconds: number, jitterMs = Math.random() * MAX_REFRESH_JITTER_MS): number {
  const issuedAt = expiresAt - expirationSeconds * 1000;
  return Math.min(issuedAt + MAX_TOKEN_AGE_MS, expiresAt - expirationSeconds * 200) - jitterMs;
}

const PLUGIN: Record<string, string> = {
  emptyDir: 'kubernetes.io~empty-dir', configMap: 'kubernetes.io~configmap', secret: 'kubernetes.io~secret',
  downwardAPI: 'kubernetes.io~downward-api', projected: 'kubernetes.io~projected', hostPath: 'kubernetes.io~host-path',
};

function kindOf(v: Volume): string | undefined {
  for (const k of Object.keys(PLUGIN)) if ((v as unknown as Record<string, unknown>)[k]) return k;
  return undefined;
}

async function run(cmd: string, args: string[]): Promise<void> {
  try { await execFileP(cmd, args); } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr || err.message).trim()}`);
  }
}

/** Whether something is mounted on p: it is on another device than its parent (no read of the whole mount table). */
function isMountPoint(p: string): boolean {
  const st = statSync(p, { throwIfNoEntry: false });
  const up = statSync(join(p, '..'), { throwIfNoEntry: false });
  return !!st && !!up && st.dev !== up.dev;
}

/** Mounts done by the container runtime's helper (no fork of the agent); see CriRuntime.mountTmpfs. */
export interface VolumeMounter {
  mountTmpfs?(path: string, options: string): Promise<void>;
  unmount?(paths: string[]): Promise<void>;
}

/** The plugins whose volumes are tmpfs mounts (emptyDir only with medium Memory). */
const TMPFS_PLUGINS = ['emptyDir', 'secret', 'projected', 'downwardAPI'];

export interface VolumeManagerOptions {
  /**
   * Told when a pod's projected token is due for refresh (80% of its lifetime, at most
   * 24 h): the pod's sync calls setUp again, which writes the new token (upstream's
   * kubelet resyncs every pod each minute instead).
   */
  onTokenRefreshDue?(podUID: string): void;
  /** The runtime's mounter, once there is a runtime; `mount`/`umount` are run without one. */
  mounter?(): VolumeMounter | undefined;
}

export class VolumeManager {
  /** Token cache per pod volume and path, with the timer that asks for its refresh. */
  private readonly tokens = new Map<string, { token: string; refreshAt: number; expiresAt: number; timer?: NodeJS.Timeout }>();

  /** Volume directories known to have their tmpfs (no mount check on every sync). */
  private readonly tmpfs = new Set<string>();

  constructor(readonly root: string, private readonly src: VolumeSources, private readonly opts: VolumeManagerOptions = {}) {}

  /** Mounts a tmpfs on the volume's directory unless one is there (a restarted agent finds its mounts). */
  private async ensureTmpfs(dir: string, options: string): Promise<void> {
    if (this.tmpfs.has(dir)) return;
    mkdirSync(dir, { recursive: true });
    if (!isMountPoint(dir)) {
      const m = this.opts.mounter?.();
      if (m?.mountTmpfs) await m.mountTmpfs(dir, options);
      else await run('mount', ['-t', 'tmpfs', ...(options ? ['-o', options] : []), 'tmpfs', dir]);
    }
    this.tmpfs.add(dir);
  }

  /** Upstream sizes a memory-backed volume by its sizeLimit, else by the node's allocatable memory. */
  private tmpfsSize(sizeLimit?: string): string {
    const size = sizeLimit ? quantityValue(sizeLimit) : quantityValue(this.src.nodeAllocatable?.memory ?? '0');
    return size ? `size=${size}` : '';
  }

  podDir(uid: string): string { return join(this.root, 'pods', uid); }

  volumeDir(uid: string, v: Volume): string {
    if (v.hostPath) return v.hostPath.path;
    return join(this.podDir(uid), 'volumes', PLUGIN[kindOf(v) ?? 'emptyDir']!, v.name);
  }

  /** Sets up (or refreshes) every volume; returns volume name → host path. Throws MountError. */
  async setUp(pod: Pod): Promise<Map<string, string>> {
    const uid = pod.metadata!.uid!;
    const out = new Map<string, string>();
    for (const v of pod.spec?.volumes ?? []) {
      try {
        out.set(v.name, await this.setUpOne(pod, uid, v));
      } catch (e) {
        if (e instanceof MountError) throw e;
        throw new MountError(v.name, (e as Error).message);
      }
    }
    return out;
  }

  private async setUpOne(pod: Pod, uid: string, v: Volume): Promise<string> {
    const kind = kindOf(v);
    const dir = this.volumeDir(uid, v);
    const ns = pod.metadata?.namespace ?? 'default';
    const fsGroup = pod.spec?.securityContext?.fsGroup;
    switch (kind) {
      case 'emptyDir': {
        await mkdir(dir, { recursive: true, mode: 0o777 });
        if (v.emptyDir!.medium === 'Memory') await this.ensureTmpfs(dir, ['mode=0777', this.tmpfsSize(v.emptyDir!.sizeLimit)].filter(Boolean).join(','));
        await import('node:fs/promises').then((fs) => fs.chmod(dir, 0o777));
        return dir;
      }
      case 'hostPath': return this.hostPath(v);
      case 'configMap': {
        const c = v.configMap!;
        const cm = this.src.configMap(ns, c.name ?? '');
        if (!cm && !c.optional) throw new MountError(v.name, `configmap "${c.name}" not found`);
        const files = cm ? projectKeys(v.name, cmData(cm), c.items, c.defaultMode ?? 0o644, !!c.optional, `configmap references non-existent config key`) : new Map();
        await writeAtomic(dir, files, { gid: fsGroup });
        return dir;
      }
      case 'secret': {
        const c = v.secret!;
        const s = this.src.secret(ns, c.secretName ?? '');
        if (!s && !c.optional) throw new MountError(v.name, `secret "${c.secretName}" not found`);
        const files = s ? projectKeys(v.name, secretData(s), c.items, c.defaultMode ?? 0o644, !!c.optional, `references non-existent secret key`) : new Map();
        await this.ensureTmpfs(dir, this.tmpfsSize());
        await writeAtomic(dir, files, { gid: fsGroup });
        return dir;
      }
      case 'downwardAPI': {
        const files = new Map<string, Projected>();
        for (const item of v.downwardAPI!.items ?? []) files.set(item.path, { data: Buffer.from(this.downward(pod, item)), mode: item.mode ?? v.downwardAPI!.defaultMode ?? 0o644 });
        await this.ensureTmpfs(dir, this.tmpfsSize());
        await writeAtomic(dir, files, { gid: fsGroup });
        return dir;
      }
      case 'projected': {
        const files = new Map<string, Projected>();
        const mode = v.projected!.defaultMode ?? 0o644;
        for (const s of v.projected!.sources ?? []) await this.projectSource(pod, v.name, s, mode, files);
        await this.ensureTmpfs(dir, this.tmpfsSize());
        await writeAtomic(dir, files, { gid: fsGroup });
        return dir;
      }
      default:
        throw new MountError(v.name, `volume type of "${v.name}" is not supported by this node`);
    }
  }

  private async projectSource(pod: Pod, vol: string, s: VolumeProjection, mode: number, files: Map<string, Projected>): Promise<void> {
    const ns = pod.metadata?.namespace ?? 'default';
    if (s.configMap) {
      const cm = this.src.configMap(ns, s.configMap.name ?? '');
      if (!cm) { if (s.configMap.optional) return; throw new MountError(vol, `configmap "${s.configMap.name}" not found`); }
      for (const [k, f] of projectKeys(vol, cmData(cm), s.configMap.items, mode, !!s.configMap.optional, 'configmap references non-existent config key')) files.set(k, f);
    } else if (s.secret) {
      const sec = this.src.secret(ns, s.secret.name ?? '');
      if (!sec) { if (s.secret.optional) return; throw new MountError(vol, `secret "${s.secret.name}" not found`); }
      for (const [k, f] of projectKeys(vol, secretData(sec), s.secret.items, mode, !!s.secret.optional, 'references non-existent secret key')) files.set(k, f);
    } else if (s.downwardAPI) {
      for (const item of s.downwardAPI.items ?? []) files.set(item.path, { data: Buffer.from(this.downward(pod, item)), mode: item.mode ?? mode });
    } else if (s.serviceAccountToken) {
      const t = s.serviceAccountToken;
      files.set(t.path, { data: Buffer.from(await this.token(pod, vol, t.path, t.audience, t.expirationSeconds ?? 3600)), mode });
    } else if ((s as { clusterTrustBundle?: unknown }).clusterTrustBundle) {
      throw new MountError(vol, 'clusterTrustBundle projections are not supported');
    }
  }

  /**
   * The pod's token for one projection: the cached one until it is due, then a new
   * TokenRequest. A failed request keeps a still-valid token (tried again later) and
   * fails the mount when there is none, as upstream ("failed to fetch token").
   */
  private async token(pod: Pod, vol: string, path: string, audience: string | undefined, expirationSeconds: number): Promise<string> {
    const uid = pod.metadata?.uid ?? '';
    const key = `${uid}/${vol}/${path}`;
    const cached = this.tokens.get(key);
    const now = Date.now();
    if (cached && cached.refreshAt > now) return cached.token;
    if (!this.src.serviceAccountToken) throw new MountError(vol, 'failed to fetch token: this node has no API client');
    let issued: IssuedToken;
    try {
      issued = await this.src.serviceAccountToken(pod, audience, expirationSeconds);
      if (!issued.token) throw new Error('the TokenRequest returned no token');
    } catch (e) {
      const msg = (e as Error).message;
      if (cached && cached.expiresAt > now) {
        log.warn({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, err: msg }, 'TokenRequest failed; keeping the current token');
        this.remember(key, uid, { ...cached, refreshAt: now + TOKEN_RETRY_MS });
        return cached.token;
      }
      throw new MountError(vol, `failed to fetch token: ${msg}`);
    }
    const parsed = issued.expirationTimestamp ? Date.parse(issued.expirationTimestamp) : NaN;
    const expiresAt = Number.isFinite(parsed) ? parsed : now + expirationSeconds * 1000;
    this.remember(key, uid, { token: issued.token, expiresAt, refreshAt: tokenRefreshAt(expiresAt, expirationSeconds) });
    return issued.token;
  }

  private remember(key: string, uid: string, entry: { token: string; refreshAt: number; expiresAt: number }): void {
    const old = this.tokens.get(key);
    if (old?.timer) clearTimeout(old.timer);
    const notify = this.opts.onTokenRefreshDue;
    const timer = notify ? setTimeout(() => notify(uid), Math.max(0, entry.refreshAt - Date.now())) : undefined;
    timer?.unref();
    this.tokens.set(key, { ...entry, timer });
  }

  private downward(pod: Pod, item: DownwardAPIVolumeFile): string {
    if (item.fieldRef) return fieldRefValue(pod, item.fieldRef, {});
    if (item.resourceFieldRef) {
      const c: Container = (pod.spec?.containers ?? []).find((x) => x.name === item.resourceFieldRef!.containerName) ?? { name: '' };
      return resourceFieldValue(item.resourceFieldRef, c, this.src.nodeAllocatable);
    }
    return '';
  }

  private async hostPath(v: Volume): Promise<string> {
    const hp = v.hostPath!;
    const p = hp.path;
    const type = hp.type ?? '';
    const st = await stat(p).catch(() => null);
    const fail = (what: string) => { throw new MountError(v.name, `hostPath type check failed: ${p} is not a ${what}`); };
    switch (type) {
      case 'DirectoryOrCreate': if (!st) await mkdir(p, { recursive: true, mode: 0o755 }); else if (!st.isDirectory()) fail('directory'); break;
      case 'Directory': if (!st?.isDirectory()) fail('directory'); break;
      case 'FileOrCreate': if (!st) await writeFile(p, '', { mode: 0o644 }); else if (!st.isFile()) fail('file'); break;
      case 'File': if (!st?.isFile()) fail('file'); break;
      case 'Socket': if (!st?.isSocket()) fail('socket'); break;
      case 'CharDevice': if (!st?.isCharacterDevice()) fail('character device'); break;
      case 'BlockDevice': if (!st?.isBlockDevice()) fail('block device'); break;
      default: if (!st) await mkdir(p, { recursive: true }); // upstream: the runtime creates a missing path as a directory
    }
    return p;
  }

  /** Unmounts and removes everything under the pod's directory. */
  async tearDown(uid: string): Promise<void> {
    const dir = this.podDir(uid);
    if (!existsSync(dir)) return;
    const mounted: string[] = [];
    for (const plugin of TMPFS_PLUGINS) {
      const pd = join(dir, 'volumes', PLUGIN[plugin]!);
      for (const name of await readdir(pd).catch(() => [] as string[])) {
        const p = join(pd, name);
        this.tmpfs.delete(p);
        if (isMountPoint(p)) mounted.push(p);
      }
    }
    const m = this.opts.mounter?.();
    if (m?.unmount) await m.unmount(mounted).catch((e: Error) => log.warn({ err: e.message }, 'unmounting volumes'));
    else for (const p of mounted) await run('umount', [p]).catch((e: Error) => log.warn({ err: e.message }, 'unmounting a volume'));
    for (const uid2 of [uid]) this.tokensForget(uid2);
    await rm(dir, { recursive: true, force: true });
  }

  private tokensForget(uid: string): void {
    for (const [k, e] of this.tokens) {
      if (!k.startsWith(`${uid}/`)) continue;
      if (e.timer) clearTimeout(e.timer);
      this.tokens.delete(k);
    }
  }

  /** Stops the refresh timers (the kubelet is stopping). */
  close(): void {
    for (const e of this.tokens.values()) if (e.timer) clearTimeout(e.timer);
  }

  /** Pod uids that have a directory here (for orphan cleanup). */
  async podUIDs(): Promise<string[]> {
    return readdir(join(this.root, 'pods')).catch(() => []);
  }
}

function cmData(cm: ConfigMap): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) m.set(k, Buffer.from(v));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) m.set(k, Buffer.from(v, 'base64'));
  return m;
}

function secretData(s: Secret): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(s.data ?? {})) m.set(k, Buffer.from(v, 'base64'));
  for (const [k, v] of Object.entries(s.stringData ?? {})) if (!m.has(k)) m.set(k, Buffer.from(v));
  return m;
}

function projectKeys(vol: string, data: Map<string, Buffer>, items: KeyToPath[] | undefined, mode: number, optional: boolean, missingMsg: string): Map<string, Projected> {
  const out = new Map<string, Projected>();
  if (!items?.length) {
    for (const [k, v] of data) out.set(k, { data: v, mode });
    return out;
  }
  for (const it of items) {
    const v = data.get(it.key);
    if (v === undefined) {
      if (optional) continue;
      throw new MountError(vol, `${missingMsg}: ${it.key}`);
    }
    out.set(it.path, { data: v, mode: it.mode ?? mode });
  }
  return out;
}

/** Container mounts: volume mounts (with subPath) plus the termination-message file. */
export async function containerMounts(c: Container, volumes: Map<string, string>, pod: Pod): Promise<{ containerPath: string; hostPath: string; readonly?: boolean }[]> {
  const out: { containerPath: string; hostPath: string; readonly?: boolean }[] = [];
  for (const m of c.volumeMounts ?? []) {
    const host = volumes.get(m.name);
    if (host === undefined) throw new MountError(m.name, `volume "${m.name}" not found in pod ${pod.metadata?.namespace}/${pod.metadata?.name}`);
    let hostPath = host;
    const sub = m.subPath ?? (m.subPathExpr ? undefined : undefined);
    if (sub) {
      if (sub.startsWith('/') || sub.split('/').includes('..')) throw new MountError(m.name, `invalid subPath ${JSON.stringify(sub)}`);
      hostPath = join(host, sub);
      if (!existsSync(hostPath)) await mkdir(hostPath, { recursive: true });
    }
    out.push({ containerPath: m.mountPath, hostPath, readonly: !!m.readOnly });
  }
  return out;
}
