// Go's `omitempty` on non-pointer numbers: upstream's JSON has no field at all for a
// zero value (DeploymentStatus.readyReplicas, ReplicaSetStatus.observedGeneration...),
// and clients compare whole objects (kubectl get -o yaml, diffs, tests against upstream).

/** `obj` without the listed keys whose value is 0 (in place; returned for chaining). */
export function omitZero<T extends object>(obj: T, keys: readonly (keyof T)[]): T {
  for (const k of keys) if (obj[k] === 0) delete obj[k];
  return obj;
}
