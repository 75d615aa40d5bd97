// The client side every component builds on, in one import.
export * from './types.js';
export { createClient, createClientFromKubeconfig, resourcePath, errorFromResponse, patchContentTypes, type JotasuApiClient } from './rest.js';
export { loadKubeconfig, writeKubeconfig, kubeconfigYaml, kubeconfigPath, DEFAULT_KUBECONFIG, type LoadedKubeconfig, type KubeconfigCredentials } from './kubeconfig.js';
export { createInformerFactory, scopedInformerFactory, SharedInformer, namespaceIndex, nodeNameIndex, ownerIndex, type InformerFactoryOptions, type InformerScope, type JotasuInformerFactory } from './informer.js';
export { createWorkQueue, type RateLimitedWorkQueue, type WorkQueueOptions } from './workqueue.js';
export { runLeaderElection, microTime, type LeaderElector } from './leader.js';
export { createEventRecorder, type EventRecorder, type EventRecorderOptions, type EventType } from './events.js';
