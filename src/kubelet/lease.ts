// The node's heartbeat (upstream pkg/kubelet/nodelease): a Lease named after the node
// in kube-node-lease, owned by the Node, renewed every 10 s with a 40 s duration. The
// node lifecycle controller reads renewTime to tell a live kubelet from a dead one.
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { Node } from 'kubernetes-types/core/v1.js';
import { R } from '../api/resources.js';
import { isStatusError } from '../api/errors.js';
import { microTime } from '../client/leader.js';
import type { ApiClient } from '../client/types.js';
import { logger } from '../util/log.js';

const log = logger('kubelet-lease');
export const LEASE_NAMESPACE = 'kube-node-lease';

export interface LeaseOptions {
  client: ApiClient;
  node: Node;
  renewIntervalMs?: number;
  durationSeconds?: number;
}

export class NodeLease {
  private timer?: NodeJS.Timeout;
  private lease?: Lease;
  private stopped = false;

  constructor(private readonly o: LeaseOptions) {}

  private desired(): Lease {
    const n = this.o.node.metadata!;
    return {
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
      metadata: {
        name: n.name, namespace: LEASE_NAMESPACE,
        ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: n.name!, uid: n.uid! }],
      },
      spec: { holderIdentity: n.name, leaseDurationSeconds: this.o.durationSeconds ?? 40, renewTime: microTime() },
    };
  }

  /** One renewal: update with the cached resourceVersion, create when missing, refetch on conflict. */
  async renew(): Promise<void> {
    const api = this.o.client.resource<Lease>(R.leases);
    const want = this.desired();
    try {
      if (!this.lease) {
        try {
          this.lease = await api.create(want, { namespace: LEASE_NAMESPACE });
          return;
        } catch (e) {
          if (!isStatusError(e, 'AlreadyExists')) throw e;
          this.lease = await api.get(want.metadata!.name!, { namespace: LEASE_NAMESPACE });
        }
      }
      this.lease = await api.update({ ...this.lease, spec: { ...this.lease.spec, ...want.spec } }, { namespace: LEASE_NAMESPACE });
    } catch (e) {
      this.lease = undefined; // refetch next time (conflict, deleted...)
      throw new Error(`renewing lease ${LEASE_NAMESPACE}/${want.metadata!.name}: ${(e as Error).message}`);
    }
  }

  start(): void {
    const every = this.o.renewIntervalMs ?? 10_000;
    const loop = async () => {
      if (this.stopped) return;
      // Upstream retries sooner (200 ms doubling to 7 s) after a failed renewal.
      let delay = every;
      try { await this.renew(); } catch (e) { log.warn({ err: (e as Error).message }, 'lease renewal failed'); delay = Math.min(every, 1000); }
      if (!this.stopped) this.timer = setTimeout(loop, delay);
    };
    void loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
