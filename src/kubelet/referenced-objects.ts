// The Secrets and ConfigMaps the kubelet's pods reference, each watched on its own
// (upstream's watch-based secret and configmap managers): a list+watch per object with
// fieldSelector metadata.name=NAME in its namespace, started when the first pod that
// references it arrives and stopped when the last one goes. The Node authorizer lets a
// node read only these objects; a cluster-wide informer would be refused.
import type { ConfigMap, Pod, Secret } from 'kubernetes-types/core/v1.js';
import type { ResourceInfo } from '../api/resources.js';
import { escapeFieldValue } from '../api/fields.js';
import { visitPodConfigMapNames, visitPodSecretNames } from '../api/pods.js';
import { SharedInformer } from '../client/informer.js';
import type { ApiClient } from '../client/types.js';

interface Watched<T extends Secret | ConfigMap> { informer: SharedInformer<T>; pods: number }

export class ReferencedObjects<T extends Secret | ConfigMap> {
  private readonly objects = new Map<string, Watched<T>>();
  /** uid -> the "namespace/name" keys the pod was registered with. */
  private readonly pods = new Map<string, string[]>();

  constructor(
    private readonly client: ApiClient,
    private readonly info: ResourceInfo,
    private readonly names: (pod: Pod, visit: (name: string) => void) => void,
    /** Told when a watched object appears or changes (the pods using it resync). */
    private readonly onChange: (obj: T) => void,
  ) {}

  /**
   * Watches what the pod references (and stops watching what it no longer does). Resolves
   * once every object it references has been listed, so that a pod starts with what exists.
   */
  register(pod: Pod): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    const ns = pod.metadata?.namespace ?? '';
    const keys = new Set<string>();
    this.names(pod, (name) => { keys.add(`${ns}/${name}`); });
    const before = this.pods.get(uid) ?? [];
    const after = [...keys];
    this.pods.set(uid, after);
    for (const k of after) if (!before.includes(k)) this.acquire(k);
    for (const k of before) if (!keys.has(k)) this.release(k);
    const pending = after.map((k) => this.objects.get(k)!.informer).filter((i) => !i.hasSynced());
    return pending.length ? Promise.all(pending.map((i) => i.whenSynced())).then(() => undefined) : Promise.resolve();
  }

  /** Whether everything the pod is registered with has been listed. */
  synced(uid: string): boolean {
    return (this.pods.get(uid) ?? []).every((k) => this.objects.get(k)?.informer.hasSynced());
  }

  unregister(uid: string): void {
    for (const k of this.pods.get(uid) ?? []) this.release(k);
    this.pods.delete(uid);
  }

  get(namespace: string, name: string): T | undefined {
    return this.objects.get(`${namespace}/${name}`)?.informer.store.get(`${namespace}/${name}`);
  }

  stop(): void {
    for (const w of this.objects.values()) w.informer.stop();
    this.objects.clear();
    this.pods.clear();
  }

  private acquire(key: string): void {
    const w = this.objects.get(key);
    if (w) { w.pods++; return; }
    const slash = key.indexOf('/');
    const informer = new SharedInformer<T>(this.client, this.info, { namespace: key.slice(0, slash), fieldSelector: `metadata.name=${escapeFieldValue(key.slice(slash + 1))}` });
    informer.addEventHandler({ onAdd: (o) => this.onChange(o), onUpdate: (_old, o) => this.onChange(o) });
    informer.start();
    this.objects.set(key, { informer, pods: 1 });
  }

  private release(key: string): void {
    const w = this.objects.get(key);
    if (!w) return;
    if (--w.pods > 0) return;
    w.informer.stop();
    this.objects.delete(key);
  }
}

/** The pod's secret names, for ReferencedObjects. */
export const podSecretNames = (pod: Pod, visit: (name: string) => void): void => { visitPodSecretNames(pod, visit); };
/** The pod's configmap names, for ReferencedObjects. */
export const podConfigMapNames = (pod: Pod, visit: (name: string) => void): void => { visitPodConfigMapNames(pod, visit); };
