// Per-resource behaviour the generic store consults (upstream: the RESTStrategy of
// each registry). Everything is optional; the defaults are those of a plain object.
import type { FieldError } from '../../api/errors.js';
import type { Obj } from '../objects.js';
import type { UserInfo } from '../auth.js';

export interface StrategyContext {
  user: UserInfo;
  dryRun: boolean;
  /** '' for the main resource, else the subresource ('status', ...). */
  subresource: string;
}

export interface Strategy {
  /** metadata.generation = 1 on create, +1 when spec changes. */
  generation?: boolean;
  /** PUT of a missing object creates it (upstream AllowCreateOnUpdate). */
  allowCreateOnUpdate?: boolean;
  /** PUT without metadata.resourceVersion is accepted (upstream AllowUnconditionalUpdate; true for nearly all). */
  allowUnconditionalUpdate?: boolean;
  /** The propagation policy of a DELETE that names none (upstream DefaultGarbageCollectionPolicy); unset: background. */
  defaultPropagationPolicy?: 'Orphan';
  /** Warning header for a DELETE that relies on defaultPropagationPolicy (upstream's job storage warns). */
  defaultPropagationWarning?: string;
  /** DELETE returns the deleted object instead of a Status (upstream ReturnDeletedObject). */
  returnDeletedObject?: boolean;
  prepareForCreate?(obj: Obj, ctx: StrategyContext): void;
  /** Main-endpoint update; `obj` is the proposed object (status already reset when there is a status subresource). */
  prepareForUpdate?(obj: Obj, old: Obj, ctx: StrategyContext): void;
  /**
   * Subresources whose handler derives the next object from the current one and may change
   * spec and status together (pods/binding, as upstream's BindingREST writes storage directly,
   * bypassing PrepareForUpdate): the main endpoint's status reset and prepareForUpdate are skipped.
   */
  directSubresources?: string[];
  /** /status update: `obj` is old with the new status; may copy more (upstream *StatusStrategy). */
  prepareForStatusUpdate?(obj: Obj, proposed: Obj, old: Obj, ctx: StrategyContext): void;
  validate?(obj: Obj, old: Obj | undefined, ctx: StrategyContext): FieldError[];
  /** Reserve what the object needs (ClusterIPs, NodePorts) before it is written; returns the undo. */
  allocate?(obj: Obj, old: Obj | undefined, ctx: StrategyContext): Promise<(() => Promise<void>) | undefined>;
  /** After a successful update: release what the old version held and the new one does not. */
  afterUpdate?(obj: Obj, old: Obj): Promise<void>;
  /** After the object is gone from the store: release what it held. */
  afterDelete?(obj: Obj): Promise<void>;
  /** Seconds of graceful deletion for this object (pods); 0 deletes now. */
  gracePeriod?(obj: Obj, requested: number | undefined): number;
}
