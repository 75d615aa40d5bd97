// Container probes (upstream pkg/kubelet/prober): exec through the runtime, httpGet
// from the node to the pod IP, tcpSocket connect. One worker per container and probe
// kind runs on the probe's period and keeps the last result with the success/failure
// thresholds applied; a change of result wakes the pod worker. Startup gates liveness
// and readiness; readiness starts as failure, liveness and startup as unknown.
import type { Container, HTTPGetAction, Pod, Probe, TCPSocketAction, ExecAction } from 'kubernetes-types/core/v1.js';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { RuntimeService } from '../runtime/cri.js';

export type ProbeKind = 'liveness' | 'readiness' | 'startup';
export type ProbeOutcome = { ok: boolean; output: string };

export interface ProbeTarget {
  runtime: Pick<RuntimeService, 'execSync'>;
  containerId: string;
  podIP: string;
  container: Container;
}

/** A named or numeric port of the container. */
export function resolvePort(port: number | string | undefined, c: Container): number {
  if (typeof port === 'number') return port;
  if (port === undefined) throw new Error('probe has no port');
  if (/^\d+$/.test(port)) return Number(port);
  const p = (c.ports ?? []).find((x) => x.name === port);
  if (!p) throw new Error(`couldn't find port ${port} in ${c.name}`);
  return p.containerPort;
}

export async function execAction(a: ExecAction, t: ProbeTarget, timeoutS: number): Promise<ProbeOutcome> {
  const r = await t.runtime.execSync(t.containerId, a.command ?? [], timeoutS);
  const out = Buffer.concat([r.stdout, r.stderr]).toString('utf8').slice(0, 10240);
  if (r.timedOut) return { ok: false, output: `command timed out after ${timeoutS}s` };
  return { ok: r.exitCode === 0, output: r.exitCode === 0 ? out : out || `command ${JSON.stringify((a.command ?? []).join(' '))} exited with ${r.exitCode}` };
}

export function httpAction(a: HTTPGetAction, t: ProbeTarget, timeoutS: number, userAgent = 'kube-probe/1.32'): Promise<ProbeOutcome> {
  const port = resolvePort(a.port, t.container);
  const host = a.host || t.podIP;
  const https = a.scheme === 'HTTPS';
  const headers: Record<string, string> = { 'User-Agent': userAgent, Accept: '*/*' };
  for (const h of a.httpHeaders ?? []) headers[h.name] = h.value;
  const path = a.path ? (a.path.startsWith('/') ? a.path : `/${a.path}`) : '/';
  return new Promise((resolve) => {
    const req = (https ? httpsRequest : httpRequest)({ host, port, path, method: 'GET', headers, timeout: timeoutS * 1000, rejectUnauthorized: false, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (d: Buffer) => { if (n < 10240) { chunks.push(d); n += d.length; } });
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        const body = Buffer.concat(chunks).toString('utf8').slice(0, 10240);
        if (code >= 200 && code < 400) resolve({ ok: true, output: body });
        else resolve({ ok: false, output: `HTTP probe failed with statuscode: ${code}` });
      });
      res.on('error', (e) => resolve({ ok: false, output: `Get "${https ? 'https' : 'http'}://${host}:${port}${path}": ${e.message}` }));
    });
    req.on('timeout', () => req.destroy(new Error('context deadline exceeded (Client.Timeout exceeded while awaiting headers)')));
    req.on('error', (e) => resolve({ ok: false, output: `Get "${https ? 'https' : 'http'}://${host}:${port}${path}": ${e.message}` }));
    req.end();
  });
}

export function tcpAction(a: TCPSocketAction, t: ProbeTarget, timeoutS: number): Promise<ProbeOutcome> {
  const port = resolvePort(a.port, t.container);
  const host = a.host || t.podIP;
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => { s.destroy(); resolve({ ok: false, output: `dial tcp ${host}:${port}: i/o timeout` }); }, timeoutS * 1000);
    s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve({ ok: true, output: '' }); });
    s.once('error', (e) => { clearTimeout(timer); resolve({ ok: false, output: `dial tcp ${host}:${port}: ${e.message}` }); });
  });
}

export async function runProbe(p: Probe, t: ProbeTarget): Promise<ProbeOutcome> {
  const timeout = p.timeoutSeconds ?? 1;
  try {
    if (p.exec) return await execAction(p.exec, t, timeout);
    if (p.httpGet) return await httpAction(p.httpGet, t, timeout);
    if (p.tcpSocket) return await tcpAction(p.tcpSocket, t, timeout);
    if (p.grpc) return { ok: false, output: 'grpc probes are not supported by this node' };
    return { ok: false, output: 'probe has no handler' };
  } catch (e) {
    return { ok: false, output: (e as Error).message };
  }
}

interface Worker {
  kind: ProbeKind;
  containerId: string;
  timer?: NodeJS.Timeout;
  result: boolean | undefined;
  successes: number;
  failures: number;
  stopped: boolean;
}

export interface ProbeEvents {
  /** A probe's result changed (or a failure streak should be acted on). */
  onChange(podUid: string): void;
  /** A failing run of a probe (Unhealthy event). */
  onFailure(pod: Pod, container: Container, kind: ProbeKind, output: string): void;
}

/** Probe workers of every pod on the node, keyed by pod uid / container name / kind. */
export class ProbeManager {
  private readonly workers = new Map<string, Worker>();

  constructor(private readonly runtime: Pick<RuntimeService, 'execSync'>, private readonly events: ProbeEvents) {}

  private key(uid: string, name: string, kind: ProbeKind): string { return `${uid}/${name}/${kind}`; }

  /** Makes sure the probes of a running container instance run (restarting workers for a new instance). */
  ensure(pod: Pod, c: Container, containerId: string, podIP: string, startedAtMs: number): void {
    const uid = pod.metadata!.uid!;
    for (const kind of ['startup', 'liveness', 'readiness'] as ProbeKind[]) {
      const probe = kind === 'startup' ? c.startupProbe : kind === 'liveness' ? c.livenessProbe : c.readinessProbe;
      const k = this.key(uid, c.name, kind);
      const w = this.workers.get(k);
      if (!probe) { if (w) this.stopWorker(k); continue; }
      if (w && w.containerId === containerId) continue;
      if (w) this.stopWorker(k);
      const nw: Worker = { kind, containerId, result: kind === 'readiness' ? false : undefined, successes: 0, failures: 0, stopped: false };
      this.workers.set(k, nw);
      const period = (probe.periodSeconds ?? 10) * 1000;
      const initial = Math.max(0, (probe.initialDelaySeconds ?? 0) * 1000 - (Date.now() - startedAtMs));
      const tick = async () => {
        if (nw.stopped) return;
        // Startup gates the others: they wait until it has succeeded.
        if (kind !== 'startup' && c.startupProbe && this.workers.get(this.key(uid, c.name, 'startup'))?.result !== true) {
          nw.timer = setTimeout(tick, period);
          return;
        }
        const out = await runProbe(probe, { runtime: this.runtime, containerId, podIP, container: c });
        if (nw.stopped) return;
        this.record(pod, c, nw, probe, out);
        if (kind === 'startup' && nw.result === true) return; // done for this instance
        nw.timer = setTimeout(tick, period);
      };
      nw.timer = setTimeout(tick, initial);
    }
  }

  private record(pod: Pod, c: Container, w: Worker, p: Probe, out: ProbeOutcome): void {
    const uid = pod.metadata!.uid!;
    if (out.ok) { w.successes++; w.failures = 0; } else { w.failures++; w.successes = 0; }
    const prev = w.result;
    if (!out.ok) this.events.onFailure(pod, c, w.kind, out.output.trim());
    if (out.ok && w.successes >= (w.kind === 'readiness' ? p.successThreshold ?? 1 : 1)) w.result = true;
    else if (!out.ok && w.failures >= (p.failureThreshold ?? 3)) w.result = false;
    if (w.result !== prev) this.events.onChange(uid);
  }

  /** true/false once determined; undefined when unknown or no such probe. */
  result(uid: string, name: string, kind: ProbeKind, containerId: string): boolean | undefined {
    const w = this.workers.get(this.key(uid, name, kind));
    return w && w.containerId === containerId ? w.result : undefined;
  }

  has(uid: string, name: string, kind: ProbeKind): boolean {
    return this.workers.has(this.key(uid, name, kind));
  }

  private stopWorker(k: string): void {
    const w = this.workers.get(k);
    if (!w) return;
    w.stopped = true;
    if (w.timer) clearTimeout(w.timer);
    this.workers.delete(k);
  }

  /** Stops the container's probes (it exited or is being killed). */
  stopContainer(uid: string, name: string): void {
    for (const kind of ['startup', 'liveness', 'readiness'] as ProbeKind[]) this.stopWorker(this.key(uid, name, kind));
  }

  stopPod(uid: string): void {
    for (const k of [...this.workers.keys()]) if (k.startsWith(`${uid}/`)) this.stopWorker(k);
  }

  stopAll(): void {
    for (const k of [...this.workers.keys()]) this.stopWorker(k);
  }
}
