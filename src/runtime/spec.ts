// Builds the OCI runtime spec (config.json) for one container. Defaults follow
// containerd's (oci/spec.go + the CRI plugin): the same default capability set,
// /proc /dev /dev/pts /dev/shm /dev/mqueue /sys mounts, masked and read-only paths,
// RLIMIT_NOFILE 1024. Pod-level sharing is pause-less: the sandbox holds persistent
// network, IPC and UTS namespaces (bind-mounted files) that every container joins by
// path, and one /dev/shm tmpfs bind-mounted into each container.

export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

// Every capability runc 1.1 knows (for privileged containers and "ALL").
export const ALL_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

const MASKED = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface OciMount { destination: string; type?: string; source?: string; options?: string[] }

export interface SpecInput {
  rootfs: string;
  readonlyRootfs: boolean;
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  tty: boolean;
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  noNewPrivileges: boolean;
  /** Bind mounts (volumes, /etc/hosts, /etc/resolv.conf, /etc/hostname, /dev/shm). */
  binds: { source: string; destination: string; readonly: boolean; propagation?: string }[];
  namespaces: { network?: string; ipc?: string; uts?: string; pid?: string | null };
  cgroupsPath: string;
  resources: {
    memoryLimit?: number;
    cpuShares?: number;
    cpuQuota?: number;
    cpuPeriod?: number;
    pidsLimit?: number;
    cpusetCpus?: string;
    cpusetMems?: string;
  };
  oomScoreAdj?: number;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  sysctls?: Record<string, string>;
  annotations?: Record<string, string>;
  cgroupV2: boolean;
}

function normCap(c: string): string {
  const u = c.toUpperCase();
  return u.startsWith('CAP_') ? u : `CAP_${u}`;
}

export function capabilities(add: string[], drop: string[], privileged: boolean): string[] {
  if (privileged) return [...ALL_CAPS];
  const adds = add.map(normCap);
  const drops = drop.map(normCap);
  let caps = adds.includes('CAP_ALL') ? [...ALL_CAPS] : [...DEFAULT_CAPS, ...adds];
  if (drops.includes('CAP_ALL')) caps = adds.filter((c) => c !== 'CAP_ALL');
  else caps = caps.filter((c) => !drops.includes(c));
  return [...new Set(caps)];
}

export function buildSpec(i: SpecInput): Record<string, unknown> {
  const caps = capabilities(i.capAdd, i.capDrop, i.privileged);
  const sysOpts = ['nosuid', 'noexec', 'nodev', i.privileged ? 'rw' : 'ro'];
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: sysOpts },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [...sysOpts, 'relatime'] },
  ];
  const hasShm = i.binds.some((b) => b.destination === '/dev/shm');
  if (!hasShm) mounts.push({ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] });
  for (const b of i.binds) {
    const opts = ['rbind', b.readonly ? 'ro' : 'rw'];
    if (b.propagation === 'PROPAGATION_BIDIRECTIONAL') opts.push('rshared');
    else if (b.propagation === 'PROPAGATION_HOST_TO_CONTAINER') opts.push('rslave');
    else opts.push('rprivate');
    mounts.push({ destination: b.destination, type: 'bind', source: b.source, options: opts });
  }
  // runc mounts in order, so a parent must come before anything mounted under it.
  const fixed = mounts.slice(0, 6);
  const rest = mounts.slice(6).sort((a, b) => a.destination.split('/').length - b.destination.split('/').length);

  const namespaces: { type: string; path?: string }[] = [{ type: 'mount' }];
  if (i.namespaces.pid !== null) namespaces.push(i.namespaces.pid ? { type: 'pid', path: i.namespaces.pid } : { type: 'pid' });
  if (i.namespaces.network !== undefined) namespaces.push(i.namespaces.network ? { type: 'network', path: i.namespaces.network } : { type: 'network' });
  if (i.namespaces.ipc !== undefined) namespaces.push(i.namespaces.ipc ? { type: 'ipc', path: i.namespaces.ipc } : { type: 'ipc' });
  if (i.namespaces.uts !== undefined) namespaces.push(i.namespaces.uts ? { type: 'uts', path: i.namespaces.uts } : { type: 'uts' });
  if (i.cgroupV2) namespaces.push({ type: 'cgroup' });

  const r = i.resources;
  const resources: Record<string, unknown> = {
    devices: i.privileged ? [{ allow: true, access: 'rwm' }] : [{ allow: false, access: 'rwm' }],
  };
  if (r.memoryLimit) resources.memory = { limit: r.memoryLimit, ...(i.cgroupV2 ? {} : { swap: r.memoryLimit }) };
  const cpu: Record<string, unknown> = {};
  if (r.cpuShares) cpu.shares = r.cpuShares;
  if (r.cpuQuota && r.cpuQuota > 0) { cpu.quota = r.cpuQuota; cpu.period = r.cpuPeriod || 100000; }
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length) resources.cpu = cpu;
  if (r.pidsLimit && r.pidsLimit > 0) resources.pids = { limit: r.pidsLimit };

  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: i.tty,
      user: { uid: i.uid, gid: i.gid, additionalGids: i.additionalGids },
      args: i.args,
      env: i.env,
      cwd: i.cwd || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: i.noNewPrivileges,
      ...(i.oomScoreAdj !== undefined ? { oomScoreAdj: i.oomScoreAdj } : {}),
    },
    root: { path: i.rootfs, readonly: i.readonlyRootfs },
    mounts: [...fixed, ...rest],
    annotations: i.annotations ?? {},
    linux: {
      resources,
      cgroupsPath: i.cgroupsPath,
      namespaces,
      ...(i.sysctls && Object.keys(i.sysctls).length ? { sysctl: i.sysctls } : {}),
      maskedPaths: i.privileged ? [] : (i.maskedPaths ?? MASKED),
      readonlyPaths: i.privileged ? [] : (i.readonlyPaths ?? READONLY),
    },
  };
}
