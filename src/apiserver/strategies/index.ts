// Strategies of the built-in kinds (upstream pkg/registry/<group>/<kind>/strategy.go).
import type { ResourceInfo } from '../../api/resources.js';
import { errors } from '../../api/errors.js';
import type { Allocators } from '../allocators.js';
import { isAllocationError } from '../allocators.js';
import type { Strategy } from './types.js';
import type { Obj } from '../objects.js';
import { nowRFC3339 } from '../objects.js';
import { addDefaultTolerations, syncDeprecatedServiceAccount, podQOSClass } from '../../api/defaults/index.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { JobLabels } from '../../api/validation/batch.js';

const plain: Strategy = {};

// ---- pods

const pods: Strategy = {
  returnDeletedObject: true,
  directSubresources: ['binding'],
  prepareForCreate(pod) {
    pod.spec ??= {};
    // DefaultTolerationSeconds, an admission plugin upstream runs on every pod (ServiceAccount's is admission/serviceaccount.ts).
    addDefaultTolerations(pod as Pod);
    syncDeprecatedServiceAccount(pod as Pod);
    pod.status = { phase: 'Pending', qosClass: podQOSClass(pod as Pod) };
  },
  prepareForStatusUpdate(next, _proposed, old) {
    // The QoS class is computed by the server and immutable.
    if (old.status?.qosClass) next.status = { ...(next.status ?? {}), qosClass: old.status.qosClass };
  },
  gracePeriod(pod, requested) {
    // Unscheduled and finished pods go at once: no kubelet has anything to stop.
    if (!pod.spec?.nodeName) return 0;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return 0;
    const g = requested ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    return Math.max(0, g);
  },
};

// ---- namespaces

const namespaces: Strategy = {
  prepareForCreate(ns) {
    ns.spec = { finalizers: ['kubernetes'] };
    ns.status = { phase: 'Active' };
    (ns.metadata!.labels ??= {})['kubernetes.io/metadata.name'] = ns.metadata!.name;
  },
  prepareForUpdate(ns, old, ctx) {
    // spec.finalizers change only through /finalize.
    if (ctx.subresource !== 'finalize') ns.spec = old.spec;
    (ns.metadata!.labels ??= {})['kubernetes.io/metadata.name'] = old.metadata!.name;
  },
};

// ---- workloads

const workload: Strategy = {
  generation: true,
  prepareForCreate(o) { o.status = {}; },
  prepareForStatusUpdate(next, _p, old) { next.metadata!.labels = old.metadata?.labels; },
};

// ---- jobs (upstream pkg/registry/batch/job/strategy.go)

/**
 * Unless spec.manualSelector, the pods of a job carry its uid and name as labels and the
 * job selects them by uid (upstream generateSelector; labels the user already set are
 * left for validation to judge).
 */
function generateJobSelector(job: Obj): void {
  if (job.spec?.manualSelector === true) return;
  const m = job.metadata!;
  const t = (job.spec.template ??= {});
  const labels = ((t.metadata ??= {}).labels ??= {});
  for (const k of [JobLabels.legacyJobName, JobLabels.jobName]) labels[k] ??= m.name;
  for (const k of [JobLabels.legacyControllerUid, JobLabels.controllerUid]) labels[k] ??= m.uid;
  const sel = (job.spec.selector ??= {});
  sel.matchLabels ??= {};
  sel.matchLabels[JobLabels.controllerUid] ??= m.uid;
}

/** SetDefaults_Job shares the template's label map with the job when the job has none: the job ends up with the template's labels. */
function jobLabelsFromTemplate(job: Obj): void {
  const tl = job.spec?.template?.metadata?.labels;
  if (tl && !Object.keys(job.metadata?.labels ?? {}).length) job.metadata!.labels = { ...tl };
}

const jobs: Strategy = {
  generation: true,
  // batch/v1 keeps a job's pods when it is deleted without a propagationPolicy, for compatibility.
  defaultPropagationPolicy: 'Orphan',
  defaultPropagationWarning: 'child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning',
  prepareForCreate(job) {
    job.status = {};
    job.spec ??= {};
    generateJobSelector(job);
    jobLabelsFromTemplate(job);
  },
  prepareForUpdate(job) { jobLabelsFromTemplate(job); },
  prepareForStatusUpdate(next, _p, old) { next.metadata!.labels = old.metadata?.labels; },
};

const ingresses: Strategy = {
  generation: true,
  prepareForCreate(o) { o.status = {}; },
};

// ---- services

function serviceStrategy(alloc: Allocators): Strategy {
  const needsNodePorts = (svc: Obj): boolean => svc.spec?.type === 'NodePort' || svc.spec?.type === 'LoadBalancer';
  const needsIP = (svc: Obj): boolean => svc.spec?.type !== 'ExternalName' && svc.spec?.clusterIP !== 'None';
  const ownerOf = (svc: Obj): string => `${svc.metadata?.namespace}/${svc.metadata?.name}`;
  const portsOf = (svc: Obj): number[] => ((svc.spec?.ports ?? []) as Obj[]).map((p) => p.nodePort).filter((p): p is number => typeof p === 'number' && p > 0);
  return {
    prepareForCreate(svc) {
      svc.status = { loadBalancer: {} };
      if (svc.spec?.clusterIPs?.length && !svc.spec.clusterIP) svc.spec.clusterIP = svc.spec.clusterIPs[0];
    },
    prepareForUpdate(svc, old) {
      svc.spec ??= {};
      // ClusterIP is immutable once set; omitted in an update means "keep" (upstream patchAllocatedValues),
      // unless the service stops needing one (ExternalName).
      if (svc.spec.type !== 'ExternalName' && old.spec?.type !== 'ExternalName') {
        if (old.spec?.clusterIP && !svc.spec.clusterIP) svc.spec.clusterIP = old.spec.clusterIP;
        if (!svc.spec.clusterIPs?.length && old.spec?.clusterIPs?.length) svc.spec.clusterIPs = old.spec.clusterIPs;
        if (!svc.spec.ipFamilies?.length && old.spec?.ipFamilies) svc.spec.ipFamilies = old.spec.ipFamilies;
        if (!svc.spec.ipFamilyPolicy && old.spec?.ipFamilyPolicy) svc.spec.ipFamilyPolicy = old.spec.ipFamilyPolicy;
      }
      // Keep the node ports already allocated to the same port when the client omitted them.
      if (needsNodePorts(svc)) {
        for (const p of (svc.spec.ports ?? []) as Obj[]) {
          if (p.nodePort) continue;
          const prev = ((old.spec?.ports ?? []) as Obj[]).find((q) => q.port === p.port && (q.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
          if (prev?.nodePort) p.nodePort = prev.nodePort;
        }
      }
    },
    async allocate(svc, old, ctx) {
      const owner = ownerOf(svc);
      const undo: (() => Promise<void>)[] = [];
      try {
        if (needsIP(svc) && !(old && old.spec?.clusterIP && old.spec.clusterIP !== 'None')) {
          const want = svc.spec.clusterIP || undefined;
          const ip = await alloc.allocateIP(owner, want);
          undo.push(() => alloc.release(alloc.ipKey(ip)));
          svc.spec.clusterIP = ip;
          svc.spec.clusterIPs = [ip];
        } else if (svc.spec?.clusterIP === 'None') {
          svc.spec.clusterIPs = ['None'];
        }
        if (needsIP(svc) || svc.spec?.clusterIP === 'None') {
          svc.spec.ipFamilies ??= ['IPv4'];
          svc.spec.ipFamilyPolicy ??= 'SingleStack';
        }
        if (needsNodePorts(svc)) {
          const had = new Set(old ? portsOf(old) : []);
          const ports = (svc.spec.ports ?? []) as Obj[];
          for (let i = 0; i < ports.length; i++) {
            const p = ports[i]!;
            if (p.nodePort && had.has(p.nodePort)) continue;
            const got = await alloc.allocatePort(owner, `spec.ports[${i}].nodePort`, p.nodePort || undefined);
            undo.push(() => alloc.release(alloc.portKey(got)));
            p.nodePort = got;
          }
        }
      } catch (e) {
        for (const u of undo) await u();
        if (isAllocationError(e)) throw errors.invalid('Service', '', svc.metadata?.name ?? '', [e.fieldError]);
        throw e;
      }
      if (ctx.dryRun) { for (const u of undo) await u(); return undefined; }
      return undo.length ? async () => { for (const u of undo) await u(); } : undefined;
    },
    async afterUpdate(svc, old) {
      // Release what the old version held and the new one no longer does.
      const keep = new Set(portsOf(svc));
      if (!needsNodePorts(svc)) keep.clear();
      for (const p of portsOf(old)) if (!keep.has(p)) await alloc.release(alloc.portKey(p));
      if (old.spec?.clusterIP && old.spec.clusterIP !== 'None' && svc.spec?.clusterIP !== old.spec.clusterIP) await alloc.release(alloc.ipKey(old.spec.clusterIP));
    },
    async afterDelete(svc) {
      if (svc.spec?.clusterIP && svc.spec.clusterIP !== 'None') await alloc.release(alloc.ipKey(svc.spec.clusterIP));
      for (const p of portsOf(svc)) await alloc.release(alloc.portKey(p));
    },
  } as Strategy;
}

// ---- nodes

const nodes: Strategy = {
  prepareForCreate(node) {
    // The kubelet registers with its status; only configSource is dropped (upstream).
    if (node.spec) delete node.spec.configSource;
  },
};

const createOnUpdate: Strategy = { allowCreateOnUpdate: true };

export function strategyFor(info: ResourceInfo, alloc: Allocators): Strategy {
  switch (info.kind) {
    case 'Pod': return pods;
    case 'Namespace': return namespaces;
    case 'Deployment': case 'ReplicaSet': return workload;
    case 'Job': return jobs;
    case 'CronJob': return workload;
    case 'Ingress': return ingresses;
    case 'IngressClass': return { generation: true };
    case 'Service': return serviceStrategy(alloc);
    case 'Node': return nodes;
    case 'Endpoints': case 'Event': case 'Lease': return createOnUpdate;
    default: return plain;
  }
}

export { nowRFC3339 };
