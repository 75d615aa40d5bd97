// The kubelet's runtime boundary, shaped like upstream's Container Runtime Interface
// (k8s.io/cri-api runtime/v1 api.proto): RuntimeService + ImageService. The types are
// plain TypeScript named after CRI's messages (camelCase fields) so that a gRPC CRI
// client (containerd) can later plug in behind the same interface; the built-in
// implementation is RuncRuntime (runc.ts) with the image store in images/.

// ---- shared ----------------------------------------------------------------------

export interface KeyValue { key: string; value: string }

/** Labels/annotations are free-form string maps, as in CRI. */
export type StringMap = Record<string, string>;

// ---- pod sandboxes ---------------------------------------------------------------

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
}

export interface DNSConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface PortMapping {
  protocol?: Protocol;
  containerPort: number;
  hostPort?: number;
  hostIp?: string;
}

export interface LinuxSandboxSecurityContext {
  /** Host namespaces, as pod.spec.hostNetwork/hostPID/hostIPC. */
  namespaceOptions?: NamespaceOption;
  privileged?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  supplementalGroups?: number[];
}

export interface NamespaceOption {
  network?: 'POD' | 'NODE';
  pid?: 'CONTAINER' | 'POD' | 'NODE';
  ipc?: 'POD' | 'NODE';
}

export interface LinuxPodSandboxConfig {
  /** Parent cgroup for the pod's containers, relative to the runtime's root cgroup. */
  cgroupParent?: string;
  securityContext?: LinuxSandboxSecurityContext;
  sysctls?: StringMap;
  /** Pod-level resources: sum of container limits (memory bytes, cpu millicores). */
  overhead?: LinuxContainerResources;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  /** Directory where the kubelet wants container logs (CRI: log_directory). */
  logDirectory?: string;
  dnsConfig?: DNSConfig;
  portMappings?: PortMapping[];
  labels?: StringMap;
  annotations?: StringMap;
  linux?: LinuxPodSandboxConfig;
}

export type PodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';

export interface PodSandboxNetworkStatus {
  ip: string;
  additionalIps?: { ip: string }[];
}

export interface PodSandboxStatus {
  id: string;
  metadata: PodSandboxMetadata;
  state: PodSandboxState;
  /** Unix nanoseconds, as CRI. */
  createdAt: bigint;
  network?: PodSandboxNetworkStatus;
  linux?: { namespaces?: { options?: NamespaceOption; paths?: { network?: string; ipc?: string; uts?: string } } };
  labels: StringMap;
  annotations: StringMap;
}

export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata;
  state: PodSandboxState;
  createdAt: bigint;
  labels: StringMap;
  annotations: StringMap;
}

export interface PodSandboxFilter {
  id?: string;
  state?: PodSandboxState;
  labelSelector?: StringMap;
}

// ---- containers ------------------------------------------------------------------

export interface ContainerMetadata {
  name: string;
  attempt?: number;
}

export interface ImageSpec {
  /** Reference as given (`nginx`, `127.0.0.1:5000/x:tag`) or an image id (`sha256:...`). */
  image: string;
  annotations?: StringMap;
}

export type MountPropagation = 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';

export interface Mount {
  containerPath: string;
  hostPath: string;
  readonly?: boolean;
  selinuxRelabel?: boolean;
  propagation?: MountPropagation;
}

export interface Device {
  containerPath: string;
  hostPath: string;
  permissions: string;
}

export interface LinuxContainerResources {
  /** CPU CFS period in microseconds (default 100000). */
  cpuPeriod?: number;
  /** CPU CFS quota in microseconds; 0/undefined = unlimited. */
  cpuQuota?: number;
  /** Relative CPU weight (cgroup v1 shares, 2..262144). */
  cpuShares?: number;
  /** Memory limit in bytes; 0/undefined = unlimited. */
  memoryLimitInBytes?: number;
  /** OOM score adjustment for the container's processes. */
  oomScoreAdj?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** Max processes in the container's cgroup (runtime default applies if unset). */
  pidsLimit?: number;
  hugepageLimits?: { pageSize: string; limit: number }[];
  unified?: StringMap;
  memorySwapLimitInBytes?: number;
}

export interface Capability {
  addCapabilities?: string[];
  dropCapabilities?: string[];
}

export interface LinuxContainerSecurityContext {
  capabilities?: Capability;
  privileged?: boolean;
  namespaceOptions?: NamespaceOption;
  runAsUser?: number;
  runAsGroup?: number;
  /** A user name resolved against the image's /etc/passwd (when runAsUser is unset). */
  runAsUsername?: string;
  readonlyRootfs?: boolean;
  supplementalGroups?: number[];
  noNewPrivs?: boolean;
  maskedPaths?: string[];
  readonlyPaths?: string[];
}

export interface LinuxContainerConfig {
  resources?: LinuxContainerResources;
  securityContext?: LinuxContainerSecurityContext;
}

export interface ContainerConfig {
  metadata: ContainerMetadata;
  image: ImageSpec;
  /** Overrides the image's Entrypoint (as pod.spec.containers[].command). */
  command?: string[];
  /** Overrides the image's Cmd (as pod.spec.containers[].args). */
  args?: string[];
  workingDir?: string;
  envs?: KeyValue[];
  mounts?: Mount[];
  devices?: Device[];
  labels?: StringMap;
  annotations?: StringMap;
  /** Relative to the sandbox's logDirectory (CRI semantics); absolute paths are used as is. */
  logPath?: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  linux?: LinuxContainerConfig;
  /** Message file path in the container (terminationMessagePath); read on exit by the kubelet. */
  terminationMessagePath?: string;
}

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface ContainerStatus {
  id: string;
  metadata: ContainerMetadata;
  state: ContainerState;
  /** Unix nanoseconds; 0 when not reached. */
  createdAt: bigint;
  startedAt: bigint;
  finishedAt: bigint;
  exitCode: number;
  image: ImageSpec;
  /** Image id (config digest, `sha256:...`), as containerd reports it. */
  imageRef: string;
  /** `repo@sha256:manifest` when known: what the kubelet puts in status.imageID. */
  imageRepoDigest?: string;
  /** `Completed`, `Error`, `OOMKilled`, `StartError`, `ContainerCannotRun`... */
  reason: string;
  message: string;
  labels: StringMap;
  annotations: StringMap;
  mounts: Mount[];
  logPath: string;
  /** Host PID of the container's main process while running (not in CRI; handy for stats/tests). */
  pid?: number;
  /** Root file system path on the host (for the kubelet's terminationMessagePath reading). */
  rootfs?: string;
}

export interface Container {
  id: string;
  podSandboxId: string;
  metadata: ContainerMetadata;
  image: ImageSpec;
  imageRef: string;
  state: ContainerState;
  createdAt: bigint;
  labels: StringMap;
  annotations: StringMap;
}

export interface ContainerFilter {
  id?: string;
  state?: ContainerState;
  podSandboxId?: string;
  labelSelector?: StringMap;
}

export interface ExecSyncResponse {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
  /** True when the command was killed because it ran past its timeout. */
  timedOut?: boolean;
}

/** Streaming exec/attach/port-forward come later: the kubelet's streaming server calls these. */
export interface ExecRequest {
  containerId: string;
  cmd: string[];
  tty?: boolean;
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
}

export interface ExecStreams {
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Terminal size changes (tty only). */
  resize?: AsyncIterable<{ width: number; height: number }>;
}

export interface VersionResponse {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

export interface RuntimeService {
  version(): Promise<VersionResponse>;

  runPodSandbox(config: PodSandboxConfig, runtimeHandler?: string): Promise<string>;
  stopPodSandbox(podSandboxId: string): Promise<void>;
  removePodSandbox(podSandboxId: string): Promise<void>;
  podSandboxStatus(podSandboxId: string): Promise<PodSandboxStatus>;
  listPodSandbox(filter?: PodSandboxFilter): Promise<PodSandbox[]>;

  createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string>;
  startContainer(containerId: string): Promise<void>;
  /** SIGTERM (or the image's StopSignal), wait up to timeoutSeconds, then SIGKILL. */
  stopContainer(containerId: string, timeoutSeconds: number): Promise<void>;
  removeContainer(containerId: string): Promise<void>;
  listContainers(filter?: ContainerFilter): Promise<Container[]>;
  containerStatus(containerId: string): Promise<ContainerStatus>;
  /** Runs a command in the container and waits (exec probes, lifecycle hooks). timeout in seconds, 0 = none. */
  execSync(containerId: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResponse>;
  /** Streaming exec; the hook the kubelet's streaming server will use. Resolves to the exit code. */
  exec?(req: ExecRequest, streams: ExecStreams): Promise<number>;
  /**
   * Attach's way in: a FIFO relayed to the stdin of a container created with stdin: true
   * (undefined without). Not CRI, whose Attach hands out a streaming URL instead; may be
   * a plain value or a promise (the kubelet's lazy runtime wraps every call in one).
   */
  stdinPath?(containerId: string): string | undefined | Promise<string | undefined>;
}

// ---- images ------------------------------------------------------------------------

export interface AuthConfig {
  username?: string;
  password?: string;
  /** base64(username:password), as in a dockerconfigjson `auth` field. */
  auth?: string;
  /** A bearer token for the registry (identity/registry token). */
  registryToken?: string;
  identityToken?: string;
  serverAddress?: string;
}

export interface Image {
  /** Image id: the config blob's digest (`sha256:...`). */
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** Sum of the compressed layer sizes. */
  size: number;
  uid?: number;
  username?: string;
  spec?: ImageSpec;
  pinned?: boolean;
}

export interface PullProgress {
  /** The blob being fetched (layer or config digest). */
  digest: string;
  /** Bytes of this blob done so far (including a resumed prefix). */
  current: number;
  total: number;
  /** 'resolving' | 'downloading' | 'done' (blob done) | 'exists' (already in the store) | 'unpacking' */
  phase: 'resolving' | 'downloading' | 'done' | 'exists' | 'unpacking';
}

export interface ImageFilter { image?: ImageSpec }

export interface ImageService {
  listImages(filter?: ImageFilter): Promise<Image[]>;
  /** null when the image is not present (CRI returns an empty status then). */
  imageStatus(image: ImageSpec): Promise<Image | null>;
  /** Pulls and unpacks; resolves to the image ref (image id). Errors carry the registry's reason. */
  pullImage(image: ImageSpec, auth?: AuthConfig, onProgress?: (p: PullProgress) => void): Promise<string>;
  removeImage(image: ImageSpec): Promise<void>;
}

/** A runtime implements both services (as containerd does on one socket). */
export interface CriRuntime extends RuntimeService, ImageService {
  /**
   * Host mounts for the kubelet's pod volumes (tmpfs under secret, projected, downwardAPI
   * and memory-backed emptyDir volumes), by the runtime's helper so that the agent forks
   * nothing. Not CRI (upstream's kubelet mounts these itself); optional.
   */
  mountTmpfs?(path: string, options: string): Promise<void>;
  /** Unmounts whatever is mounted on each path; a path that is not a mount point is no error. */
  unmount?(paths: string[]): Promise<void>;
}

/** Raised by pullImage; `reason` mirrors what the kubelet shows (ErrImagePull message). */
export class ImagePullError extends Error {
  constructor(message: string, readonly ref: string, readonly httpStatus?: number, readonly code?: string) {
    super(message);
    this.name = 'ImagePullError';
  }
}

/** Raised when an id or image is unknown; the kubelet maps it to NotFound semantics. */
export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

export function isNotFound(e: unknown): e is NotFoundError {
  return e instanceof NotFoundError;
}

export const nowNanos = (): bigint => BigInt(Date.now()) * 1_000_000n;
