// Pod status from what the runtime reports plus the pod worker's decisions, as
// upstream's kubelet computes it (kubelet_pods.go generateAPIPodStatus, getPhase,
// pkg/kubelet/status/generate.go): container statuses, phase, and the conditions the
// kubelet owns (PodReadyToStartContainers, Initialized, ContainersReady, Ready);
// other conditions (PodScheduled, DisruptionTarget...) are kept as they are.
import type { Container, ContainerState, ContainerStatus, Pod, PodCondition, PodStatus } from 'kubernetes-types/core/v1.js';

/** One runtime container instance as the status code needs it. */
export interface RuntimeContainerInfo {
  id: string;
  state: 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';
  attempt: number;
  /** ms since epoch, 0 = unknown */
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
  imageID: string;
}

export interface ContainerView {
  current?: RuntimeContainerInfo;
  /** The instance before current (for lastState). */
  previous?: RuntimeContainerInfo;
  /** Set by the worker when the container is not running for a known reason. */
  waiting?: { reason: string; message?: string };
  ready: boolean;
  started: boolean;
}

export interface StatusInput {
  pod: Pod;
  sandboxReady: boolean;
  podIPs: string[];
  hostIPs: string[];
  containers: Map<string, ContainerView>;
  initContainers: Map<string, ContainerView>;
  /** Terminal state forced by the worker (e.g. admission rejection). */
  rejected?: { reason: string; message: string };
  now?: number;
}

export const RUNTIME_PREFIX = 'runc://';

export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function terminated(c: RuntimeContainerInfo): ContainerState {
  return {
    terminated: {
      exitCode: c.exitCode,
      ...(c.reason ? { reason: c.reason } : {}),
      ...(c.message ? { message: c.message } : {}),
      ...(c.startedAt ? { startedAt: rfc3339(c.startedAt) } : {}),
      ...(c.finishedAt ? { finishedAt: rfc3339(c.finishedAt) } : {}),
      containerID: RUNTIME_PREFIX + c.id,
    },
  };
}

export function containerStatus(spec: Container, v: ContainerView | undefined, defaultWaiting: string): ContainerStatus {
  const cur = v?.current;
  let state: ContainerState;
  let last: ContainerState = {};
  if (v?.waiting) {
    state = { waiting: { reason: v.waiting.reason, ...(v.waiting.message ? { message: v.waiting.message } : {}) } };
    if (cur?.state === 'CONTAINER_EXITED') last = terminated(cur);
    else if (v.previous) last = terminated(v.previous);
  } else if (cur?.state === 'CONTAINER_RUNNING') {
    state = { running: { startedAt: rfc3339(cur.startedAt || Date.now()) } };
    if (v?.previous) last = terminated(v.previous);
  } else if (cur?.state === 'CONTAINER_EXITED') {
    state = terminated(cur);
    if (v?.previous) last = terminated(v.previous);
  } else {
    state = { waiting: { reason: defaultWaiting } };
    if (v?.previous) last = terminated(v.previous);
  }
  const running = !!state.running;
  const s: ContainerStatus = {
    name: spec.name,
    state,
    lastState: last,
    ready: running && !!v?.ready,
    restartCount: cur?.attempt ?? 0,
    image: spec.image ?? '',
    imageID: cur?.imageID ?? '',
    ...(cur ? { containerID: RUNTIME_PREFIX + cur.id } : {}),
    started: running && !!v?.started,
  };
  return s;
}

/** Upstream getPhase (without sidecars). */
export function podPhase(pod: Pod, init: ContainerStatus[], regular: ContainerStatus[]): PodStatus['phase'] {
  const policy = pod.spec?.restartPolicy ?? 'Always';
  let pendingInit = 0;
  let failedInit = 0;
  for (const s of init) {
    const t = s.state?.terminated;
    if (t && t.exitCode === 0) continue;
    if (t && t.exitCode !== 0) failedInit++;
    else if (s.state?.waiting && s.lastState?.terminated && s.lastState.terminated.exitCode !== 0) failedInit++;
    pendingInit++;
  }
  let running = 0, waiting = 0, stopped = 0, succeeded = 0;
  for (const s of regular) {
    if (s.state?.running) running++;
    else if (s.state?.terminated) { stopped++; if (s.state.terminated.exitCode === 0) succeeded++; }
    else if (s.state?.waiting) {
      if (s.lastState?.terminated) stopped++;
      else waiting++;
    }
  }
  if (failedInit > 0 && policy === 'Never') return 'Failed';
  if (pendingInit > 0) return 'Pending';
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0 && stopped === regular.length) {
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

function cond(type: string, ok: boolean, reason?: string, message?: string): PodCondition {
  return { type, status: ok ? 'True' : 'False', ...(reason ? { reason } : {}), ...(message ? { message } : {}) };
}

const KUBELET_CONDITIONS = ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready'];

/** The pod's new status. Transition times are kept when a condition's status did not change. */
export function computePodStatus(i: StatusInput): PodStatus {
  const pod = i.pod;
  const now = i.now ?? Date.now();
  const old = pod.status ?? {};
  const specInit = pod.spec?.initContainers ?? [];
  const specRegular = pod.spec?.containers ?? [];
  const initDone = specInit.every((c) => {
    const cur = i.initContainers.get(c.name)?.current;
    return cur?.state === 'CONTAINER_EXITED' && cur.exitCode === 0;
  });
  const initStatuses = specInit.map((c) => containerStatus(c, i.initContainers.get(c.name), 'PodInitializing'));
  const regularStatuses = specRegular.map((c) => containerStatus(c, i.containers.get(c.name), initDone ? 'ContainerCreating' : 'PodInitializing'));
  for (const s of initStatuses) s.started = !!s.state?.running;
  // Init containers are "ready" once they completed (upstream).
  for (const s of initStatuses) if (s.state?.terminated?.exitCode === 0) s.ready = true;

  let phase = i.rejected ? 'Failed' : podPhase(pod, initStatuses, regularStatuses);
  // A pod that reached a terminal phase stays there.
  if (old.phase === 'Succeeded' || old.phase === 'Failed') phase = old.phase;

  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const incompleteInit = specInit.filter((c, k) => initStatuses[k]!.state?.terminated?.exitCode !== 0).map((c) => c.name);
  const unready = specRegular.filter((c, k) => !regularStatuses[k]!.ready).map((c) => c.name);
  const conds: PodCondition[] = [];
  conds.push(cond('PodReadyToStartContainers', i.sandboxReady && !terminal));
  conds.push(incompleteInit.length
    ? cond('Initialized', false, 'ContainersNotInitialized', `containers with incomplete status: [${incompleteInit.join(' ')}]`)
    : cond('Initialized', true, terminal && phase === 'Succeeded' && specInit.length ? 'PodCompleted' : undefined));
  let readyCond: PodCondition;
  if (terminal && phase === 'Succeeded') readyCond = cond('Ready', false, 'PodCompleted');
  else if (!initDone && incompleteInit.length) readyCond = cond('Ready', false, 'ContainersNotInitialized', `containers with incomplete status: [${incompleteInit.join(' ')}]`);
  else if (unready.length) readyCond = cond('Ready', false, 'ContainersNotReady', `containers with unready status: [${unready.join(' ')}]`);
  else readyCond = cond('Ready', true);
  conds.push({ ...readyCond, type: 'ContainersReady' });
  // Readiness gates: the Ready condition also needs each gate's condition True.
  const gates = (pod.spec?.readinessGates ?? []).map((g) => g.conditionType).filter((t) => old.conditions?.find((c) => c.type === t)?.status !== 'True');
  if (readyCond.status === 'True' && gates.length) {
    readyCond = cond('Ready', false, 'ReadinessGatesNotReady', `corresponding condition of pod readiness gate "${gates[0]}" does not exist.`);
  }
  conds.push(readyCond);

  const merged: PodCondition[] = [];
  const oldBy = new Map((old.conditions ?? []).map((c) => [c.type, c]));
  // Keep others' conditions (PodScheduled first, as upstream orders them).
  for (const c of old.conditions ?? []) if (!KUBELET_CONDITIONS.includes(c.type)) merged.push(c);
  // Upstream's kubelet adds PodScheduled=True when a bound pod lacks it (pods from before 1.6).
  if (!merged.some((c) => c.type === 'PodScheduled')) merged.unshift({ type: 'PodScheduled', status: 'True', lastProbeTime: null as unknown as string, lastTransitionTime: rfc3339(now) });
  for (const c of conds) {
    const prev = oldBy.get(c.type);
    const t = prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : rfc3339(now);
    merged.push({ ...c, lastProbeTime: null as unknown as string, lastTransitionTime: t });
  }

  const status: PodStatus = {
    ...old,
    phase,
    conditions: merged,
    hostIP: i.hostIPs[0],
    hostIPs: i.hostIPs.map((ip) => ({ ip })),
    startTime: old.startTime ?? rfc3339(now),
    containerStatuses: regularStatuses,
    ...(specInit.length ? { initContainerStatuses: initStatuses } : {}),
    qosClass: old.qosClass,
  };
  if (i.podIPs.length) { status.podIP = i.podIPs[0]; status.podIPs = i.podIPs.map((ip) => ({ ip })); }
  else if (!pod.spec?.hostNetwork && !old.podIP) { delete status.podIP; delete status.podIPs; }
  if (i.rejected) { status.reason = i.rejected.reason; status.message = i.rejected.message; }
  if (!status.qosClass) delete status.qosClass;
  if (!status.hostIP) { delete status.hostIP; delete status.hostIPs; }
  return status;
}

/** Deep equality of two statuses through canonical JSON (what decides whether to write). */
export function statusEqual(a: PodStatus | undefined, b: PodStatus | undefined): boolean {
  return canon(a ?? {}) === canon(b ?? {});
}

function canon(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x && typeof x === 'object' && !Array.isArray(x)) {
      return Object.fromEntries(Object.keys(x).sort().filter((k) => (x as Record<string, unknown>)[k] !== undefined && (x as Record<string, unknown>)[k] !== null)
        .map((k) => [k, (x as Record<string, unknown>)[k]]));
    }
    return x;
  });
}
