// /metrics of the API server in the Prometheus text format, with kube-apiserver's
// names and labels for what it measures: requests by verb/resource/code and their
// latency, requests in flight, stored objects per resource, process CPU and memory.
// Scrapers and `kubectl get --raw /metrics` read it as they read kube-apiserver's.
import type { RequestInfo } from './request-info.js';
import { KUBE_VERSION } from '../util/version.js';

// Upstream's apiserver_request_duration_seconds buckets.
const BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];

interface Histogram { counts: number[]; sum: number; count: number }

/** Label values, in the (sorted) order of the label names of the request series. */
type RequestLabels = [component: string, dryRun: string, group: string, resource: string, scope: string, subresource: string, verb: string, version: string];
const REQUEST_LABEL_NAMES = ['component', 'dry_run', 'group', 'resource', 'scope', 'subresource', 'verb', 'version'];

export interface ObservedRequest {
  method: string;
  info: RequestInfo | undefined;
  dryRun: boolean;
  applyPatch: boolean;
  code: number;
  seconds: number;
  /** Watches and streams: counted, but their handler returns before they end, so no latency. */
  longRunning: boolean;
}

/** metrics.CleanVerb: LIST, WATCH, APPLY and CONNECT by request kind, else the HTTP method. */
function verbOf(r: ObservedRequest): string {
  const v = r.info?.isResourceRequest ? r.info.verb : undefined;
  if (v === 'list') return 'LIST';
  if (v === 'watch') return 'WATCH';
  if (v === 'connect') return 'CONNECT';
  if (v === 'patch' && r.applyPatch) return 'APPLY';
  return r.method.toUpperCase();
}

/** metrics.CleanScope. */
function scopeOf(info: RequestInfo | undefined): string {
  if (!info?.isResourceRequest) return '';
  if (info.name || info.verb === 'create') return 'resource';
  if (info.namespace) return 'namespace';
  return 'cluster';
}

const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (names: string[], values: readonly string[]): string => names.map((n, i) => `${n}="${escape(values[i] ?? '')}"`).join(',');

export interface ApiMetrics {
  /** A request finished. */
  observe(r: ObservedRequest): void;
  /** A non-long-running request started (+1) or ended (-1). */
  inflight(mutating: boolean, delta: 1 | -1): void;
  /** The exposition; storedObjects gives apiserver_storage_objects per resource (e.g. deployments.apps). */
  render(storedObjects: Iterable<[string, number]>): string;
}

export function createApiMetrics(): ApiMetrics {
  const totals = new Map<string, { labels: RequestLabels; code: string; n: number }>();
  const durations = new Map<string, { labels: RequestLabels; h: Histogram }>();
  const current = { mutating: 0, readOnly: 0 };
  const started = Date.now() / 1000 - process.uptime();

  return {
    observe(r) {
      const info = r.info?.isResourceRequest ? r.info : undefined;
      const labels: RequestLabels = ['apiserver', r.dryRun ? 'All' : '', info?.group ?? '', info?.resource ?? '', scopeOf(r.info), info?.subresource ?? '', verbOf(r), info?.version ?? ''];
      const key = labels.join('\u0000');
      const code = String(r.code);
      const tk = `${key}\u0000${code}`;
      const t = totals.get(tk);
      if (t) t.n++; else totals.set(tk, { labels, code, n: 1 });
      if (r.longRunning) return;
      let d = durations.get(key);
      if (!d) durations.set(key, (d = { labels, h: { counts: new Array<number>(BUCKETS.length).fill(0), sum: 0, count: 0 } }));
      const i = BUCKETS.findIndex((b) => r.seconds <= b);
      if (i >= 0) d.h.counts[i]!++;
      d.h.sum += r.seconds;
      d.h.count++;
    },
    inflight(mutating, delta) {
      if (mutating) current.mutating += delta; else current.readOnly += delta;
    },
    render(storedObjects) {
      const out: string[] = [];
      const head = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

      head('apiserver_current_inflight_requests', 'gauge', '[STABLE] Maximal number of currently used inflight request limit of this apiserver per request kind in last second.');
      out.push(`apiserver_current_inflight_requests{request_kind="mutating"} ${current.mutating}`, `apiserver_current_inflight_requests{request_kind="readOnly"} ${current.readOnly}`);

      head('apiserver_request_duration_seconds', 'histogram', '[STABLE] Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.');
      for (const { labels, h } of [...durations.values()].sort((a, b) => (a.labels.join() < b.labels.join() ? -1 : 1))) {
        const l = labelText(REQUEST_LABEL_NAMES, labels);
        let cum = 0;
        BUCKETS.forEach((b, i) => { cum += h.counts[i]!; out.push(`apiserver_request_duration_seconds_bucket{${l},le="${b}"} ${cum}`); });
        out.push(`apiserver_request_duration_seconds_bucket{${l},le="+Inf"} ${h.count}`);
        out.push(`apiserver_request_duration_seconds_sum{${l}} ${h.sum}`, `apiserver_request_duration_seconds_count{${l}} ${h.count}`);
      }

      head('apiserver_request_total', 'counter', '[STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.');
      for (const t of [...totals.values()].sort((a, b) => (`${a.code}${a.labels.join()}` < `${b.code}${b.labels.join()}` ? -1 : 1))) {
        out.push(`apiserver_request_total{code="${t.code}",${labelText(REQUEST_LABEL_NAMES, t.labels)}} ${t.n}`);
      }

      head('apiserver_storage_objects', 'gauge', '[STABLE] Number of stored objects at the time of last check split by kind. In case of a fetching error, the value will be -1.');
      for (const [resource, n] of [...storedObjects].sort((a, b) => (a[0] < b[0] ? -1 : 1))) out.push(`apiserver_storage_objects{resource="${escape(resource)}"} ${n}`);

      head('kubernetes_build_info', 'gauge', '[ALPHA] A metric with a constant \'1\' value labeled by major, minor, git version, git commit, git tree state, build date, Go version, and compiler from which Kubernetes was built, and platform on which it is running.');
      out.push(`kubernetes_build_info{build_date="2025-01-01T00:00:00Z",compiler="tsc",git_commit="0000000000000000000000000000000000000000",git_tree_state="clean",git_version="${KUBE_VERSION.gitVersion}",go_version="node${process.versions.node}",major="${KUBE_VERSION.major}",minor="${KUBE_VERSION.minor}",platform="${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}"} 1`);

      const cpu = process.cpuUsage();
      head('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.');
      out.push(`process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`);
      head('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.');
      out.push(`process_resident_memory_bytes ${process.memoryUsage.rss()}`);
      head('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.');
      out.push(`process_start_time_seconds ${started}`);
      return `${out.join('\n')}\n`;
    },
  };
}
