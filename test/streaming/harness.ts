// A real cluster for the streaming tests: `jotasu server --disable-agent` (real API
// server, kubectl 1.32 against it), a real runc runtime and our kubelet server, and a
// small stand-in for the kubelet's pod worker that runs a pod's containers in the runtime
// and reports their status through the API. The stand-in keeps these tests independent
// of the kubelet's own progress; everything kubectl touches (API server proxy, kubelet
// server, runc, CNI) is the real thing.
// Everything is removed in stop(), also after failures: containers, mounts, cgroups,
// the test bridge and its NAT rules, the server and its data dir.
import { mkdtemp, rm, readdir, writeFile, readFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Pod, Container as PodContainer } from 'kubernetes-types/core/v1.js';
import { startCluster, freePort, type Cluster } from '../lib/cluster.js';
import { busyboxImage, dockerSaveArchive, layer, layerTar } from '../lib/images.js';
import { RuncRuntime } from '../../src/runtime/runc.js';
import { importArchive } from '../../src/runtime/images/import.js';
import type { PodSandboxConfig } from '../../src/runtime/cri.js';
import { startKubeletServer, type KubeletServer } from '../../src/kubelet/server/server.js';
import { issueKubeletServingCert } from '../../src/kubelet/server/certs.js';

export const isRoot = process.getuid?.() === 0;
export const haveRunc = spawnSync('runc', ['--version']).status === 0;
export const haveKubectl = spawnSync('kubectl', ['version', '--client']).status === 0;
export const skip = !isRoot || !haveRunc || !haveKubectl ? 'needs root, runc and kubectl' : false;

export const NODE = 'stream-node';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RunningPod {
  pod: Pod;
  sandboxId: string;
  ip: string;
  containers: Map<string, { id: string; attempt: number }>;
}

export class Harness {
  cluster!: Cluster;
  rt!: RuncRuntime;
  kubelet!: KubeletServer;
  dataDir = '';
  imageRef = '';
  readonly tag = randomBytes(3).toString('hex');
  readonly bridge = `jst${this.tag}`;
  readonly subnet = `10.245.${100 + (parseInt(this.tag.slice(0, 2), 16) % 100)}.0/24`;
  readonly cgroupRoot = `jotasu-stest-${this.tag}`;
  readonly runDir = `/run/jotasu-stest-${this.tag}`;
  readonly pods = new Map<string, RunningPod>();

  async start(): Promise<void> {
    this.dataDir = await mkdtemp(join(tmpdir(), 'jotasu-streaming-test-'));
    this.cluster = await startCluster();
    this.rt = new RuncRuntime({ dataDir: this.dataDir, runDir: this.runDir, bridge: this.bridge, podCIDR: this.subnet, cgroupRoot: this.cgroupRoot });
    await this.rt.init();
    // busybox plus the applets kubectl cp and the tests need.
    const extra = layer(await layerTar(['tar', 'sha256sum', 'md5sum', 'stty', 'base64', 'cmp'].map((a) => ({ path: `bin/${a}`, linkname: 'busybox' }))));
    const archive = join(this.dataDir, 'busybox.tar');
    await writeFile(archive, await dockerSaveArchive(await busyboxImage({}, [extra]), ['test/busybox:stream']));
    this.imageRef = (await importArchive(this.rt.images, archive))[0]!.id;
    const tlsDir = join(this.cluster.dataDir, 'server', 'tls');
    const ca = { certPem: readFileSync(join(tlsDir, 'server-ca.crt'), 'utf8'), keyPem: readFileSync(join(tlsDir, 'server-ca.key'), 'utf8') };
    const serving = await issueKubeletServingCert(ca, NODE, ['127.0.0.1']);
    this.kubelet = await startKubeletServer({
      runtime: this.rt, runc: { root: join(this.runDir, 'runc'), bin: 'runc' },
      tls: { cert: serving.certPem, key: serving.keyPem, clientCA: ca.certPem },
      port: await freePort(), address: '127.0.0.1',
    });
    await this.kubectlJSON(['create', '-f', '-'], { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, labels: { 'kubernetes.io/hostname': NODE } } });
    await this.patchStatus('node', NODE, {
      status: {
        addresses: [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: NODE }],
        daemonEndpoints: { kubeletEndpoint: { Port: this.kubelet.port } },
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'test', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() }],
      },
    });
  }

  async kubectl(args: string[], o: { input?: string; timeoutMs?: number } = {}) {
    return this.cluster.kubectl(args, o);
  }

  private async kubectlJSON(args: string[], obj: unknown): Promise<unknown> {
    const r = await this.kubectl([...args, '-o', 'json'], { input: JSON.stringify(obj) });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  async patchStatus(kind: string, name: string, patch: unknown, ns?: string): Promise<void> {
    const r = await this.kubectl(['patch', kind, name, ...(ns ? ['-n', ns] : []), '--subresource=status', '--type=merge', '-p', JSON.stringify(patch)]);
    if (r.code !== 0) throw new Error(`patch ${kind} ${name} status: ${r.stderr}`);
  }

  /** Creates the pod in the API (bound to our node) and, unless `pending`, runs it. */
  async runPod(name: string, containers: PodContainer[], opts: { pending?: boolean; labels?: Record<string, string> } = {}): Promise<RunningPod> {
    const pod = await this.kubectlJSON(['create', '-f', '-'], {
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels: opts.labels ?? { app: name } },
      spec: { nodeName: NODE, terminationGracePeriodSeconds: 0, containers: containers.map((c) => ({ image: 'test/busybox:stream', ...c })) },
    }) as Pod;
    const uid = pod.metadata!.uid!;
    if (opts.pending) {
      await this.patchStatus('pod', name, { status: { phase: 'Pending', containerStatuses: containers.map((c) => ({
        name: c.name, ready: false, restartCount: 0, image: 'test/busybox:stream', imageID: '', state: { waiting: { reason: 'ContainerCreating' } },
      })) } });
      const rp = { pod, sandboxId: '', ip: '', containers: new Map() };
      this.pods.set(name, rp);
      return rp;
    }
    const sbConfig: PodSandboxConfig = {
      metadata: { name, uid, namespace: 'default', attempt: 0 }, hostname: name,
      logDirectory: join(this.dataDir, 'pods', `default_${name}_${uid}`),
      dnsConfig: { servers: ['10.43.0.10'], searches: [], options: [] },
    };
    const sandboxId = await this.rt.runPodSandbox(sbConfig);
    const rp: RunningPod = { pod, sandboxId, ip: (await this.rt.podSandboxStatus(sandboxId)).network?.ip ?? '', containers: new Map() };
    this.pods.set(name, rp);
    for (const c of containers) await this.startContainer(rp, c, 0, sbConfig);
    await this.reportStatus(rp);
    return rp;
  }

  private async startContainer(rp: RunningPod, c: PodContainer, attempt: number, sb?: PodSandboxConfig): Promise<void> {
    const config = sb ?? this.sandboxConfig(rp);
    const id = await this.rt.createContainer(rp.sandboxId, {
      metadata: { name: c.name, attempt }, image: { image: this.imageRef }, command: c.command, args: c.args,
      logPath: `${c.name}/${attempt}.log`, labels: { 'io.kubernetes.pod.uid': rp.pod.metadata!.uid! },
    }, config);
    await this.rt.startContainer(id);
    rp.containers.set(c.name, { id, attempt });
  }

  private sandboxConfig(rp: RunningPod): PodSandboxConfig {
    const uid = rp.pod.metadata!.uid!, name = rp.pod.metadata!.name!;
    return { metadata: { name, uid, namespace: 'default', attempt: 0 }, logDirectory: join(this.dataDir, 'pods', `default_${name}_${uid}`) };
  }

  /** Waits for a container to exit, starts the next attempt, reports lastState. */
  async restartContainer(name: string, container: string): Promise<void> {
    const rp = this.pods.get(name)!;
    const cur = rp.containers.get(container)!;
    for (let i = 0; i < 200 && (await this.rt.containerStatus(cur.id)).state !== 'CONTAINER_EXITED'; i++) await sleep(50);
    const spec = rp.pod.spec!.containers.find((c) => c.name === container)!;
    const prev = cur;
    await this.startContainer(rp, spec, cur.attempt + 1);
    await this.reportStatus(rp, { [container]: prev.id });
  }

  /** Writes the pod's status from the runtime, as the kubelet's status manager would. */
  async reportStatus(rp: RunningPod, previous: Record<string, string> = {}): Promise<void> {
    const statuses = [];
    for (const c of rp.pod.spec!.containers) {
      const cur = rp.containers.get(c.name)!;
      const st = await this.rt.containerStatus(cur.id);
      const ts = (n: bigint) => new Date(Number(n / 1_000_000n)).toISOString().replace(/\.\d+Z$/, 'Z');
      const state = st.state === 'CONTAINER_RUNNING' ? { running: { startedAt: ts(st.startedAt) } }
        : { terminated: { exitCode: st.exitCode, reason: st.reason, containerID: `jotasu://${cur.id}`, startedAt: ts(st.startedAt), finishedAt: ts(st.finishedAt) } };
      let lastState = {};
      if (previous[c.name]) {
        const p = await this.rt.containerStatus(previous[c.name]!);
        lastState = { terminated: { exitCode: p.exitCode, reason: p.reason, containerID: `jotasu://${p.id}`, startedAt: ts(p.startedAt), finishedAt: ts(p.finishedAt) } };
      }
      statuses.push({ name: c.name, ready: st.state === 'CONTAINER_RUNNING', restartCount: cur.attempt, image: 'test/busybox:stream', imageID: this.imageRef,
        containerID: `jotasu://${cur.id}`, started: st.state === 'CONTAINER_RUNNING', state, lastState });
    }
    await this.patchStatus('pod', rp.pod.metadata!.name!, { status: { phase: 'Running', podIP: rp.ip, podIPs: [{ ip: rp.ip }], hostIP: '127.0.0.1', containerStatuses: statuses } });
  }

  async waitLog(name: string, container: string, re: RegExp, ms = 10_000): Promise<string> {
    const rp = this.pods.get(name)!;
    const deadline = Date.now() + ms;
    for (;;) {
      const st = await this.rt.containerStatus(rp.containers.get(container)!.id);
      const text = await readFile(st.logPath, 'utf8').catch(() => '');
      if (re.test(text)) return text;
      if (Date.now() > deadline) throw new Error(`log of ${name}/${container} never matched ${re}: ${text.slice(-500)}`);
      await sleep(50);
    }
  }

  async stop(): Promise<string[]> {
    const errors: string[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown> | unknown) => {
      try { await fn(); } catch (e) { errors.push(`${what}: ${(e as Error).message}`); }
    };
    await attempt('kubelet server', () => this.kubelet?.close());
    if (this.rt) {
      for (const s of await this.rt.listPodSandbox().catch(() => [])) {
        for (const c of await this.rt.listContainers({ podSandboxId: s.id }).catch(() => [])) await attempt('remove container', () => this.rt.removeContainer(c.id));
        await attempt('stop sandbox', () => this.rt.stopPodSandbox(s.id));
        await attempt('remove sandbox', () => this.rt.removePodSandbox(s.id));
      }
    }
    const runcRoot = join(this.runDir, 'runc');
    if (existsSync(runcRoot)) for (const id of await readdir(runcRoot).catch(() => [] as string[])) spawnSync('runc', ['--root', runcRoot, 'delete', '--force', id]);
    const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
      .filter((m) => (this.dataDir && m.startsWith(this.dataDir)) || m.startsWith(this.runDir)).reverse();
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    for (const c of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
      const p = join('/sys/fs/cgroup', c, this.cgroupRoot);
      if (existsSync(p)) spawnSync('sh', ['-c', `find "${p}" -depth -type d -exec rmdir {} \\; 2>/dev/null`]);
    }
    const p2 = join('/sys/fs/cgroup', this.cgroupRoot);
    if (existsSync(p2)) spawnSync('sh', ['-c', `find "${p2}" -depth -type d -exec rmdir {} \\; 2>/dev/null`]);
    spawnSync('ip', ['link', 'del', this.bridge]);
    await attempt('cluster', () => this.cluster?.stop());
    await rm(this.runDir, { recursive: true, force: true });
    if (this.dataDir) await rm(this.dataDir, { recursive: true, force: true });
    return errors;
  }
}
