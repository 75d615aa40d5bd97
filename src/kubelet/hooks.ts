// Lifecycle hooks (upstream pkg/kubelet/lifecycle/handlers.go): postStart runs right
// after the container started, preStop before it is signalled; exec, httpGet and
// sleep handlers. Failures are returned as messages for FailedPostStartHook /
// FailedPreStopHook events.
import type { Container, LifecycleHandler } from 'kubernetes-types/core/v1.js';
import type { RuntimeService } from '../runtime/cri.js';
import { execAction, httpAction } from './probes.js';

export async function runHook(h: LifecycleHandler, runtime: Pick<RuntimeService, 'execSync'>, containerId: string, podIP: string, c: Container, timeoutS: number): Promise<string | undefined> {
  const t = { runtime, containerId, podIP, container: c };
  try {
    if (h.exec) {
      const r = await execAction(h.exec, t, Math.max(1, timeoutS));
      return r.ok ? undefined : `Exec lifecycle hook (${JSON.stringify(h.exec.command ?? [])}) for Container "${c.name}" failed - error: ${r.output}`;
    }
    if (h.httpGet) {
      const r = await httpAction(h.httpGet, t, Math.max(1, timeoutS), 'kube-lifecycle/1.32');
      return r.ok ? undefined : `HTTP lifecycle hook (${h.httpGet.path ?? '/'}) for Container "${c.name}" failed - error: ${r.output}`;
    }
    if (h.sleep) {
      await new Promise((r) => setTimeout(r, Math.min(h.sleep!.seconds, timeoutS) * 1000));
      return undefined;
    }
    if (h.tcpSocket) return undefined; // deprecated, upstream ignores it
    return `hook for Container "${c.name}" has no handler`;
  } catch (e) {
    return (e as Error).message;
  }
}
