// An in-memory ApiClient for unit tests of code built on the client (leader
// election, event recorder): objects per resource with resourceVersion
// concurrency and the API server's Status errors. Each view made by `connect()`
// can be cut off (`partition`) to simulate a component losing the server.
import { errors } from '../../src/api/errors.js';
import type { ResourceInfo } from '../../src/api/resources.js';
import type { ApiClient, KubeObject, ObjectList, ResourceClient } from '../../src/client/types.js';

export interface MemoryCluster {
  objects: Map<string, KubeObject>;
  calls: string[];
  connect(): ApiClient & { partitioned: boolean };
}

export function createMemoryCluster(): MemoryCluster {
  const objects = new Map<string, KubeObject>();
  const calls: string[] = [];
  let rev = 0;
  let uid = 0;
  const key = (info: ResourceInfo, ns: string | undefined, name: string): string => `${info.resource}/${ns ?? ''}/${name}`;
  const clone = <T>(o: T): T => structuredClone(o);

  function connect(): ApiClient & { partitioned: boolean } {
    const view = {
      partitioned: false,
      resource<T extends KubeObject>(info: ResourceInfo): ResourceClient<T> {
        const ref = (name?: string) => ({ group: info.group, resource: info.resource, name });
        const guard = async (verb: string, name?: string): Promise<void> => {
          calls.push(`${verb} ${info.resource} ${name ?? ''}`);
          await new Promise((r) => setImmediate(r));
          if (view.partitioned) throw new Error(`${verb} ${info.resource}: connect ECONNREFUSED`);
        };
        const rc: ResourceClient<T> = {
          info,
          async get(name, o) {
            await guard('get', name);
            const v = objects.get(key(info, o?.namespace, name));
            if (!v) throw errors.notFound(ref(name));
            return clone(v) as T;
          },
          async list(o) {
            await guard('list');
            const items = [...objects.entries()].filter(([k]) => k.startsWith(`${info.resource}/${o?.namespace ?? ''}`)).map(([, v]) => clone(v) as T);
            return { metadata: { resourceVersion: String(rev) }, items } as ObjectList<T>;
          },
          async create(obj, o) {
            const ns = o?.namespace ?? obj.metadata?.namespace;
            const name = obj.metadata?.name ?? '';
            await guard('create', name);
            const k = key(info, ns, name);
            if (objects.has(k)) throw errors.alreadyExists(ref(name));
            const stored = { ...clone(obj), metadata: { ...obj.metadata, namespace: ns, uid: `uid-${++uid}`, resourceVersion: String(++rev) } };
            objects.set(k, stored);
            return clone(stored) as T;
          },
          async update(obj, o) {
            const ns = o?.namespace ?? obj.metadata?.namespace;
            const name = obj.metadata?.name ?? '';
            await guard('update', name);
            const k = key(info, ns, name);
            const cur = objects.get(k);
            if (!cur) throw errors.notFound(ref(name));
            if (obj.metadata?.resourceVersion && obj.metadata.resourceVersion !== cur.metadata?.resourceVersion) {
              throw errors.conflict(ref(name), 'the object has been modified; please apply your changes to the latest version and try again');
            }
            const stored = { ...clone(obj), metadata: { ...cur.metadata, ...obj.metadata, resourceVersion: String(++rev) } };
            objects.set(k, stored);
            return clone(stored) as T;
          },
          async updateStatus(obj, o) { return rc.update(obj, o); },
          async patch(name, _type, patch, o) {
            await guard('patch', name);
            const k = key(info, o?.namespace, name);
            const cur = objects.get(k);
            if (!cur) throw errors.notFound(ref(name));
            const stored = { ...cur, ...(patch as object), metadata: { ...cur.metadata, resourceVersion: String(++rev) } };
            objects.set(k, stored);
            return clone(stored) as T;
          },
          async delete(name, o) {
            await guard('delete', name);
            const k = key(info, o?.namespace, name);
            const cur = objects.get(k);
            if (!cur) throw errors.notFound(ref(name));
            objects.delete(k);
            return cur as T;
          },
          async deleteCollection() { throw new Error('not implemented'); },
          async createSubresource() { throw new Error('not implemented'); },
          watch() { throw new Error('not implemented'); },
        };
        return rc;
      },
      async request(): Promise<never> { throw new Error('not implemented'); },
      close(): void {},
    };
    return view;
  }

  return { objects, calls, connect };
}
