// Version strings reported by /version, the kubelet's nodeInfo and User-Agents.
export const VERSION = '0.1.0';
/** The Kubernetes API version jotasu speaks (what /version reports as gitVersion). */
export const KUBE_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-jotasu.0.1.0' } as const;
