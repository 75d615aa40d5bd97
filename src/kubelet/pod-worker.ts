// One worker per pod (upstream pkg/kubelet/pod_workers.go + kuberuntime_manager.go
// SyncPod): updates for a pod are handled one at a time, in order; each sync compares
// the pod spec with what the runtime reports and acts on the difference: sandbox,
// image pulls, init containers in order, containers with restart back-off, probes,
// then writes the status if it changed. Deletion runs preStop hooks, stops the
// containers within the grace period, tears everything down and removes the pod.
import type { Container, ObjectReference, Pod } from 'kubernetes-types/core/v1.js';
import { readFile, rm } from 'node:fs/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerStatus as CriContainerStatus, CriRuntime, PodSandbox } from '../runtime/cri.js';
import { isNotFound } from '../runtime/cri.js';
import { forgetStartTrace, markStart, startTracing, takeStartTrace } from '../runtime/start-trace.js';
import { R } from '../api/resources.js';
import { isStatusError } from '../api/errors.js';
import type { ApiClient } from '../client/types.js';
import type { EventRecorder } from '../client/events.js';
import type { Logger } from '../util/log.js';
import { Backoff, formatGoDuration } from './backoff.js';
import {
  ANN_CONTAINER_HASH, LABEL_CONTAINER_NAME, LABEL_POD_UID, buildContainerConfig, buildSandboxConfig, containerHash,
} from './container-config.js';
import { ConfigError, expandCommand, makeEnvironment, servicesForPod, type EnvSources } from './env.js';
import { ImageError, type ImageManager } from './images.js';
import { runHook } from './hooks.js';
import type { ProbeManager } from './probes.js';
import { computePodStatus, statusEqual, type ContainerView, type RuntimeContainerInfo } from './status.js';
import { containerMounts, MountError, type VolumeManager } from './volumes/index.js';
import { admit, type Rejection } from './admit.js';
import type { ConfigMap, Secret, Service, Node } from 'kubernetes-types/core/v1.js';

/** What every pod worker shares (owned by the Kubelet). */
export interface KubeletContext {
  client: ApiClient;
  runtime: CriRuntime;
  images: ImageManager;
  volumes: VolumeManager;
  probes: ProbeManager;
  recorder: EventRecorder;
  crashBackoff: Backoff;
  log: Logger;
  nodeName: string;
  nodeIP: string;
  dataDir: string;
  clusterDNS: string[];
  clusterDomain: string;
  memoryCapacity: number;
  node(): Node | undefined;
  configMap(ns: string, name: string): ConfigMap | undefined;
  secret(ns: string, name: string): Secret | undefined;
  services(): Service[];
  /** Pods admitted on this node (for host port and resource checks). */
  admittedPods(except: string): Pod[];
  /** Called when the worker has finished with a pod that is gone. */
  forget(uid: string): void;
}

interface Instance { info: RuntimeContainerInfo; hash: string; raw: CriContainerStatus }

const toMs = (n: bigint) => Number(n / 1_000_000n);
const MAX_INSTANCES = 2; // current + previous (for lastState and logs --previous)

function containerRef(pod: Pod, c: Container, init: boolean): ObjectReference {
  const i = (init ? pod.spec?.initContainers : pod.spec?.containers)?.findIndex((x) => x.name === c.name) ?? 0;
  void i;
  return {
    apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, namespace: pod.metadata?.namespace, uid: pod.metadata?.uid,
    resourceVersion: pod.metadata?.resourceVersion, fieldPath: `spec.${init ? 'initContainers' : 'containers'}{${c.name}}`,
  };
}

function podRef(pod: Pod): ObjectReference {
  return { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, namespace: pod.metadata?.namespace, uid: pod.metadata?.uid, resourceVersion: pod.metadata?.resourceVersion };
}

export function podFullName(pod: Pod): string {
  return `${pod.metadata?.name}_${pod.metadata?.namespace}(${pod.metadata?.uid})`;
}

export class PodWorker {
  pod: Pod;
  /** The pod is gone from the API (deleted with grace 0, or never to be seen again). */
  private removed = false;
  private running = false;
  private pending = false;
  private timer?: NodeJS.Timeout;
  private waiting = new Map<string, { reason: string; message?: string }>();
  private rejected?: Rejection;
  private admitted = false;
  private lastMountError = '';
  private terminated = false;
  private done = false;
  private idle: Promise<void> = Promise.resolve();
  private idleResolve?: () => void;
  readonly uid: string;

  constructor(private readonly k: KubeletContext, pod: Pod) {
    this.pod = pod;
    this.uid = pod.metadata!.uid!;
  }

  update(pod: Pod): void {
    this.pod = pod;
    this.kick();
  }

  /** A status-only update: keep the newest copy without a sync. */
  observe(pod: Pod): void {
    this.pod = pod;
  }

  /** The pod left the API (deleted for good): kill what is left and forget it. */
  remove(): void {
    this.removed = true;
    this.kick();
  }

  get isAdmitted(): boolean { return this.admitted && !this.rejected && !this.terminated; }

  /** Request a sync; coalesces while one is running. */
  kick(delayMs = 0): void {
    if (this.done) return;
    if (delayMs > 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => { this.timer = undefined; this.kick(); }, delayMs);
      return;
    }
    if (this.running) { this.pending = true; return; }
    this.running = true;
    this.idle = new Promise((r) => { this.idleResolve = r; });
    void this.loop();
  }

  /** Resolves when no sync is running. */
  whenIdle(): Promise<void> { return this.idle; }

  private async loop(): Promise<void> {
    try {
      do {
        this.pending = false;
        try {
          await this.sync();
        } catch (e) {
          this.k.log.error({ pod: podFullName(this.pod), err: (e as Error).stack ?? String(e) }, 'pod sync failed');
          this.kick(2000);
        }
      } while (this.pending && !this.done);
    } finally {
      this.running = false;
      this.idleResolve?.();
    }
  }

  stop(): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private ev(type: 'Normal' | 'Warning', reason: string, message: string, c?: Container, init = false): void {
    this.k.recorder.event(c ? containerRef(this.pod, c, init) : podRef(this.pod), type, reason, message);
  }

  // ---- runtime views ----

  private async sandboxes(): Promise<PodSandbox[]> {
    const all = await this.k.runtime.listPodSandbox({ labelSelector: { [LABEL_POD_UID]: this.uid } });
    return all.sort((a, b) => Number(b.createdAt - a.createdAt));
  }

  /** Container instances by name, newest first. */
  private async instances(): Promise<Map<string, Instance[]>> {
    const list = await this.k.runtime.listContainers({ labelSelector: { [LABEL_POD_UID]: this.uid } });
    const out = new Map<string, Instance[]>();
    for (const c of list) {
      let st: CriContainerStatus;
      try { st = await this.k.runtime.containerStatus(c.id); } catch (e) { if (isNotFound(e)) continue; throw e; }
      const name = c.labels[LABEL_CONTAINER_NAME] ?? c.metadata.name;
      let message = st.message;
      if (st.state === 'CONTAINER_EXITED') message = (await this.terminationMessage(name, st)) || message;
      const info: RuntimeContainerInfo = {
        id: c.id, state: st.state, attempt: c.metadata.attempt ?? 0,
        startedAt: toMs(st.startedAt), finishedAt: toMs(st.finishedAt), exitCode: st.exitCode,
        reason: st.reason, message, imageID: st.imageRepoDigest ?? st.imageRef,
      };
      const arr = out.get(name) ?? [];
      arr.push({ info, hash: c.annotations[ANN_CONTAINER_HASH] ?? '', raw: st });
      out.set(name, arr);
    }
    for (const arr of out.values()) arr.sort((a, b) => b.info.attempt - a.info.attempt || Number(b.raw.createdAt - a.raw.createdAt));
    return out;
  }

  private tmFile(name: string, attempt: number): string {
    return join(this.k.volumes.podDir(this.uid), 'containers', name, `termination-${attempt}`);
  }

  /** terminationMessagePath (a file we bind-mounted), or the log tail with FallbackToLogsOnError. */
  private async terminationMessage(name: string, st: CriContainerStatus): Promise<string> {
    const msg = (await readFile(this.tmFile(name, st.metadata.attempt ?? 0), 'utf8').catch(() => '')).slice(0, 4096);
    if (msg) return msg;
    const spec = [...(this.pod.spec?.containers ?? []), ...(this.pod.spec?.initContainers ?? [])].find((c) => c.name === name);
    if (spec?.terminationMessagePolicy === 'FallbackToLogsOnError' && st.exitCode !== 0) {
      const lines = (await readFile(st.logPath, 'utf8').catch(() => '')).split('\n').filter(Boolean).slice(-80);
      // CRI log lines: "<time> <stream> <P|F> <text>"
      return lines.map((l) => l.replace(/^\S+ (stdout|stderr) [PF] /, '')).join('\n').slice(-2048);
    }
    return '';
  }

  // ---- the sync ----

  private async sync(): Promise<void> {
    if (this.done) return;
    const pod = this.pod;
    if (this.removed) { await this.kill(2, false); this.finish(); return; }
    if (pod.metadata?.deletionTimestamp) { await this.terminate(); return; }
    if (this.terminated) return;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') { await this.terminal(); return; }

    markStart(this.uid, 'sync');
    if (!this.admitted) {
      this.rejected = admit(pod, this.k.admittedPods(this.uid), this.k.node());
      markStart(this.uid, 'admit');
      this.admitted = true;
      if (this.rejected) {
        this.ev('Warning', this.rejected.reason, this.rejected.message);
        await this.writeStatus(new Map(), new Map(), false, []);
        this.terminated = true;
        return;
      }
    }
    const hostNetwork = !!pod.spec?.hostNetwork;

    // Volumes are set up while the sandbox is made: only containers need them, and a
    // projected service-account token is a TokenRequest round trip, which in a burst of
    // pods on a saturated node waited ~0.5 s before the pod could queue for a start slot.
    // A missing ConfigMap/Secret still blocks every container (FailedMount), retried.
    const volumesSetUp = this.k.volumes.setUp(pod).then((v) => ({ v }), (e: Error) => ({ e }));

    // Sandbox: reuse the newest ready one; otherwise kill everything and make a new one.
    const sbs = await this.sandboxes();
    let sandbox = sbs.find((s) => s.state === 'SANDBOX_READY');
    let podIP = '';
    const sbConfig = buildSandboxConfig({
      pod, attempt: sbs.length, logDirectory: this.logDir(), clusterDNS: this.k.clusterDNS, clusterDomain: this.k.clusterDomain,
    });
    if (sandbox) {
      const st = await this.k.runtime.podSandboxStatus(sandbox.id);
      podIP = st.network?.ip ?? '';
      if (!hostNetwork && !podIP) sandbox = undefined;
    }
    if (!sandbox) {
      for (const old of sbs) {
        this.k.probes.stopPod(this.uid);
        await this.k.runtime.stopPodSandbox(old.id).catch(() => undefined);
        await this.k.runtime.removePodSandbox(old.id).catch((e: Error) => this.k.log.warn({ err: e.message }, 'removing old sandbox'));
      }
      mkdirSync(this.logDir(), { recursive: true });
      try {
        const id = await this.k.runtime.runPodSandbox(sbConfig);
        const st = await this.k.runtime.podSandboxStatus(id);
        podIP = st.network?.ip ?? '';
        sandbox = { id, metadata: st.metadata, state: st.state, createdAt: st.createdAt, labels: st.labels, annotations: st.annotations };
      } catch (e) {
        await volumesSetUp; // not left running into the next sync
        const msg = `Failed to create pod sandbox: ${(e as Error).message}`;
        this.ev('Warning', 'FailedCreatePodSandBox', msg);
        await this.writeStatus(new Map(), new Map(), false, []);
        this.kick(5000);
        return;
      }
    }
    markStart(this.uid, 'sandbox');
    const vs = await volumesSetUp;
    if ('e' in vs) {
      const msg = vs.e.message;
      if (msg !== this.lastMountError) this.ev('Warning', 'FailedMount', msg);
      this.lastMountError = msg;
      await this.writeStatus(new Map(), new Map(), false, []);
      this.kick(5000);
      return;
    }
    const volumes = vs.v;
    this.lastMountError = '';
    markStart(this.uid, 'volumes');
    const podIPs = hostNetwork ? [this.k.nodeIP] : podIP ? [podIP] : [];
    const ip = podIPs[0] ?? '';

    let inst = await this.instances();
    markStart(this.uid, 'inspect');
    const policy = pod.spec?.restartPolicy ?? 'Always';

    // Init containers, in order: each must complete before the next starts.
    let initDone = true;
    for (const c of pod.spec?.initContainers ?? []) {
      const cur = inst.get(c.name)?.[0];
      if (cur?.info.state === 'CONTAINER_EXITED' && cur.info.exitCode === 0) continue;
      initDone = false;
      if (cur?.info.state === 'CONTAINER_RUNNING') break;
      if (cur?.info.state === 'CONTAINER_EXITED') {
        if (policy === 'Never') break; // the pod fails (status computes it)
        if (!this.mayRestart(c, cur, true)) break;
        await this.startContainer(c, true, cur.info.attempt + 1, sandbox.id, sbConfig, volumes, ip);
        break;
      }
      await this.startContainer(c, true, cur ? cur.info.attempt : 0, sandbox.id, sbConfig, volumes, ip, cur);
      break;
    }

    if (initDone) {
      await Promise.all((pod.spec?.containers ?? []).map(async (c) => {
        const cur = inst.get(c.name)?.[0];
        if (!cur) { await this.startContainer(c, false, 0, sandbox!.id, sbConfig, volumes, ip); return; }
        const st = cur.info.state;
        if (st === 'CONTAINER_CREATED') { await this.startContainer(c, false, cur.info.attempt, sandbox!.id, sbConfig, volumes, ip, cur); return; }
        if (st === 'CONTAINER_RUNNING') {
          const live = this.k.probes.result(this.uid, c.name, 'liveness', cur.info.id);
          const startup = this.k.probes.result(this.uid, c.name, 'startup', cur.info.id);
          let why = '';
          if (startup === false) why = `Container ${c.name} failed startup probe, will be restarted`;
          else if (live === false) why = `Container ${c.name} failed liveness probe, will be restarted`;
          else if (cur.hash && cur.hash !== containerHash(c)) why = `Container ${c.name} definition changed, will be restarted`;
          if (!why) { this.k.probes.ensure(pod, c, cur.info.id, ip, cur.info.startedAt || Date.now()); return; }
          this.ev('Normal', 'Killing', why, c);
          await this.stopOne(c, cur.info.id, ip, this.gracePeriod());
          // Killed by the kubelet: restart at once (upstream does not back off here).
          await this.startContainer(c, false, cur.info.attempt + 1, sandbox!.id, sbConfig, volumes, ip);
          return;
        }
        // Exited.
        this.k.probes.stopContainer(this.uid, c.name);
        const restart = policy === 'Always' || (policy === 'OnFailure' && cur.info.exitCode !== 0);
        if (!restart) { this.waiting.delete(c.name); return; }
        if (!this.mayRestart(c, cur, false)) return;
        await this.startContainer(c, false, cur.info.attempt + 1, sandbox!.id, sbConfig, volumes, ip);
      }));
    }

    inst = await this.instances();
    await this.gcInstances(inst);
    markStart(this.uid, 'status computed');
    await this.writeStatus(inst, new Map(), true, podIPs);
  }

  /** Crash-loop back-off (upstream doBackOff): false (and CrashLoopBackOff) while backing off. */
  private mayRestart(c: Container, cur: Instance, init: boolean): boolean {
    const key = `${this.uid}/${c.name}`;
    const { startedAt, finishedAt } = cur.info;
    // A container that ran for 10 minutes starts over at 10 s.
    if (startedAt && finishedAt && finishedAt - startedAt >= 10 * 60_000) this.k.crashBackoff.reset(key);
    const ts = finishedAt || Date.now();
    if (this.k.crashBackoff.isInBackOffSince(key, ts)) {
      const d = formatGoDuration(this.k.crashBackoff.get(key));
      const message = `back-off ${d} restarting failed container=${c.name} pod=${podFullName(this.pod)}`;
      if (this.waiting.get(c.name)?.reason !== 'CrashLoopBackOff' || this.waiting.get(c.name)?.message !== message) {
        this.ev('Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${podFullName(this.pod)}`, c, init);
      }
      this.waiting.set(c.name, { reason: 'CrashLoopBackOff', message });
      this.kick(this.k.crashBackoff.remaining(key, ts) + 50);
      return false;
    }
    this.k.crashBackoff.next(key);
    return true;
  }

  private logDir(): string {
    const p = this.pod.metadata!;
    return join(this.k.dataDir, 'agent', 'pod-logs', `${p.namespace}_${p.name}_${p.uid}`);
  }

  private envSources(ip: string): EnvSources {
    return {
      configMap: (ns, n) => this.k.configMap(ns, n),
      secret: (ns, n) => this.k.secret(ns, n),
      services: servicesForPod(this.pod, this.k.services()),
      podIP: ip, podIPs: ip ? [ip] : [], hostIP: this.k.nodeIP, hostIPs: [this.k.nodeIP],
      nodeAllocatable: this.k.node()?.status?.allocatable as EnvSources['nodeAllocatable'],
      onInvalidKey: (src, keys) => this.ev('Warning', 'InvalidEnvironmentVariableNames',
        `Keys [${keys.join(', ')}] from the EnvFrom ${src} were skipped since they are considered invalid environment variable names.`),
    };
  }

  /** Pull, create and start one container; failures become waiting reasons. */
  private async startContainer(c: Container, init: boolean, attempt: number, sandboxId: string, sbConfig: ReturnType<typeof buildSandboxConfig>,
    volumes: Map<string, string>, ip: string, created?: Instance): Promise<void> {
    const pod = this.pod;
    let id = created?.info.id;
    if (!id) {
      let imageId: string;
      try {
        const secrets = (pod.spec?.imagePullSecrets ?? []).map((r) => this.k.secret(pod.metadata!.namespace!, r.name ?? '')).filter((s): s is Secret => !!s);
        imageId = await this.k.images.ensure(pod, c, secrets, { event: (t, r, m) => this.ev(t, r, m, c, init) });
        markStart(this.uid, 'image');
      } catch (e) {
        if (e instanceof ImageError) {
          this.waiting.set(c.name, { reason: e.reason, message: e.message });
          if (e.retryInMs) this.kick(e.retryInMs);
          return;
        }
        throw e;
      }
      let config;
      try {
        const env = makeEnvironment(pod, c, this.envSources(ip));
        const { command, args } = expandCommand(c, env);
        const mounts = await containerMounts(c, volumes, pod);
        // Termination messages go to a host file bind-mounted at terminationMessagePath.
        const tm = this.tmFile(c.name, attempt);
        // Synchronous, as the runtime's pod files (runc.ts): tiny, and no thread-pool round trips.
        mkdirSync(join(tm, '..'), { recursive: true });
        writeFileSync(tm, '');
        const tmPath = c.terminationMessagePath ?? '/dev/termination-log';
        if (!mounts.some((m) => m.containerPath === tmPath)) mounts.push({ containerPath: tmPath, hostPath: tm, readonly: false });
        config = buildContainerConfig({ pod, container: c, init, attempt, env, command, args, mounts, image: imageId, memoryCapacity: this.k.memoryCapacity });
        markStart(this.uid, 'container config');
      } catch (e) {
        if (e instanceof ConfigError || e instanceof MountError) {
          const msg = e.message;
          if (this.waiting.get(c.name)?.message !== msg) this.ev('Warning', 'Failed', `Error: ${msg}`, c, init);
          this.waiting.set(c.name, { reason: 'CreateContainerConfigError', message: msg });
          this.kick(5000);
          return;
        }
        throw e;
      }
      try {
        id = await this.k.runtime.createContainer(sandboxId, config, sbConfig);
      } catch (e) {
        const msg = (e as Error).message;
        this.ev('Warning', 'Failed', `Error: ${msg}`, c, init);
        this.waiting.set(c.name, { reason: 'CreateContainerError', message: msg });
        this.kick(5000);
        return;
      }
      this.ev('Normal', 'Created', `Created container: ${c.name}`, c, init);
    }
    this.waiting.delete(c.name);
    try {
      await this.k.runtime.startContainer(id);
    } catch (e) {
      // The runtime reports it as exited (StartError): the restart path backs off.
      this.ev('Warning', 'Failed', `Error: ${(e as Error).message}`, c, init);
      this.kick(100);
      return;
    }
    this.ev('Normal', 'Started', `Started container ${c.name}`, c, init);
    if (c.lifecycle?.postStart) {
      const err = await runHook(c.lifecycle.postStart, this.k.runtime, id, ip, c, this.gracePeriod());
      if (err) {
        this.ev('Warning', 'FailedPostStartHook', err, c, init);
        this.ev('Normal', 'Killing', `FailedPostStartHook`, c, init);
        await this.k.runtime.stopContainer(id, this.gracePeriod()).catch(() => undefined);
        this.kick(100);
        return;
      }
    }
    if (!init) this.k.probes.ensure(pod, c, id, ip, Date.now());
  }

  private gracePeriod(): number {
    const p = this.pod;
    return p.metadata?.deletionGracePeriodSeconds ?? p.spec?.terminationGracePeriodSeconds ?? 30;
  }

  /** preStop hook, then stop within what is left of the grace period. */
  private async stopOne(c: Container | undefined, id: string, ip: string, grace: number): Promise<void> {
    const t0 = Date.now();
    if (c) this.k.probes.stopContainer(this.uid, c.name);
    if (c?.lifecycle?.preStop && grace > 0) {
      const err = await runHook(c.lifecycle.preStop, this.k.runtime, id, ip, c, grace);
      if (err) this.ev('Warning', 'FailedPreStopHook', err, c);
    }
    const left = Math.max(grace > 0 ? 2 : 0, Math.ceil(grace - (Date.now() - t0) / 1000)); // upstream's 2 s minimum
    await this.k.runtime.stopContainer(id, left).catch((e: Error) => { if (!isNotFound(e)) throw e; });
  }

  /** Stops every running container (graceful), optionally with Killing events. */
  private async stopAll(grace: number, events: boolean): Promise<void> {
    const inst = await this.instances();
    const sbs = await this.sandboxes();
    let ip = '';
    if (sbs[0]) ip = (await this.k.runtime.podSandboxStatus(sbs[0].id).catch(() => undefined))?.network?.ip ?? '';
    const all = [...(this.pod.spec?.containers ?? []), ...(this.pod.spec?.initContainers ?? [])];
    await Promise.all([...inst].flatMap(([name, list]) => list.filter((i) => i.info.state === 'CONTAINER_RUNNING' || i.info.state === 'CONTAINER_CREATED').map(async (i) => {
      const c = all.find((x) => x.name === name);
      if (events && c) this.ev('Normal', 'Killing', `Stopping container ${name}`, c);
      await this.stopOne(c, i.info.id, ip, grace);
    })));
    this.k.probes.stopPod(this.uid);
  }

  /** Removes sandboxes, containers, volumes and logs of the pod. */
  private async teardown(): Promise<void> {
    for (const s of await this.sandboxes()) {
      await this.k.runtime.stopPodSandbox(s.id).catch((e: Error) => this.k.log.warn({ err: e.message }, 'stopPodSandbox'));
      await this.k.runtime.removePodSandbox(s.id);
    }
    await this.k.volumes.tearDown(this.uid);
    await rm(this.logDir(), { recursive: true, force: true });
  }

  /** The pod is gone or the node drains: stop (short grace) and remove everything. */
  async kill(grace: number, events: boolean): Promise<void> {
    await this.stopAll(grace, events);
    await this.teardown();
  }

  /** Graceful deletion, then the pod is removed from the API (gracePeriodSeconds=0, as the kubelet does). */
  private async terminate(): Promise<void> {
    if (!this.terminated) {
      this.terminated = true;
      await this.stopAll(this.gracePeriod(), true);
      const inst = await this.instances();
      await this.writeStatus(inst, new Map(), false, []).catch(() => undefined);
      await this.teardown();
    }
    try {
      await this.k.client.resource<Pod>(R.pods).delete(this.pod.metadata!.name!, {
        namespace: this.pod.metadata!.namespace, gracePeriodSeconds: 0, preconditions: { uid: this.uid },
      });
    } catch (e) {
      if (!isStatusError(e, 'NotFound') && !isStatusError(e, 'Conflict')) { this.kick(2000); throw e; }
    }
    this.finish();
  }

  /** Succeeded/Failed: stop what still runs and release the network; keep containers for logs. */
  private async terminal(): Promise<void> {
    if (this.terminated) return;
    this.terminated = true;
    await this.stopAll(this.gracePeriod(), false);
    for (const s of await this.sandboxes()) await this.k.runtime.stopPodSandbox(s.id).catch(() => undefined);
  }

  /** JOTASU_KUBELET_TRACE: the pod's start timeline (start-trace.ts), logged once its Running status is written. */
  private logStartTrace(): void {
    markStart(this.uid, 'status written');
    const marks = takeStartTrace(this.uid);
    if (marks) this.k.log.warn({ pod: `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}`, uid: this.uid, marks }, 'pod start trace');
  }

  private finish(): void {
    this.stop();
    forgetStartTrace(this.uid);
    this.k.images.forgetPod(this.uid);
    this.k.crashBackoff.resetPrefix(`${this.uid}/`);
    this.k.forget(this.uid);
  }

  /** Keep the newest MAX_INSTANCES per container; remove older dead ones. */
  private async gcInstances(inst: Map<string, Instance[]>): Promise<void> {
    for (const list of inst.values()) {
      for (const old of list.slice(MAX_INSTANCES)) {
        if (old.info.state === 'CONTAINER_EXITED') await this.k.runtime.removeContainer(old.info.id).catch(() => undefined);
      }
    }
  }

  private views(inst: Map<string, Instance[]>, specs: Container[], init: boolean): Map<string, ContainerView> {
    const out = new Map<string, ContainerView>();
    for (const c of specs) {
      const list = inst.get(c.name) ?? [];
      const cur = list[0]?.info;
      let ready = false;
      let started = false;
      if (cur?.state === 'CONTAINER_RUNNING') {
        const su = this.k.probes.result(this.uid, c.name, 'startup', cur.id);
        started = !c.startupProbe || su === true;
        const rd = this.k.probes.result(this.uid, c.name, 'readiness', cur.id);
        ready = started && (!c.readinessProbe || rd === true);
      }
      const w = this.waiting.get(c.name);
      out.set(c.name, { current: cur, previous: list[1]?.info, waiting: w, ready: !init && ready, started });
    }
    return out;
  }

  /** Computes the status and writes it through pods/status when it changed. */
  private async writeStatus(inst: Map<string, Instance[]>, _unused: Map<string, unknown>, sandboxReady: boolean, podIPs: string[]): Promise<void> {
    const pod = this.pod;
    const status = computePodStatus({
      pod, sandboxReady, podIPs, hostIPs: [this.k.nodeIP],
      containers: this.views(inst, pod.spec?.containers ?? [], false),
      initContainers: this.views(inst, pod.spec?.initContainers ?? [], true),
      rejected: this.rejected,
    });
    if (statusEqual(status, pod.status)) return;
    const api = this.k.client.resource<Pod>(R.pods);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const base = attempt === 0 ? pod : await api.get(pod.metadata!.name!, { namespace: pod.metadata!.namespace });
        if (base.metadata?.uid !== this.uid) return;
        const fresh = attempt === 0 ? status : computePodStatus({
          pod: base, sandboxReady, podIPs, hostIPs: [this.k.nodeIP],
          containers: this.views(inst, base.spec?.containers ?? [], false),
          initContainers: this.views(inst, base.spec?.initContainers ?? [], true), rejected: this.rejected,
        });
        const updated = await api.updateStatus({ ...base, status: fresh }, { namespace: base.metadata!.namespace });
        if (startTracing && updated.status?.phase === 'Running') this.logStartTrace();
        // Keep our copy current so the next comparison sees what we wrote.
        if (updated.metadata?.uid === this.uid && !this.pod.metadata?.deletionTimestamp) this.pod = { ...this.pod, status: updated.status, metadata: { ...this.pod.metadata, resourceVersion: updated.metadata?.resourceVersion } };
        return;
      } catch (e) {
        if (isStatusError(e, 'NotFound')) return;
        if (!isStatusError(e, 'Conflict')) throw new Error(`updating status of pod ${pod.metadata?.namespace}/${pod.metadata?.name}: ${(e as Error).message}`);
      }
    }
  }
}
