// `jotasu server`: the control plane in one process, as k3s does it. Starts the
// datastore and the API server, writes the admin kubeconfig, then starts the
// in-process components from `components` below, each as an API client. The control
// loops (scheduler, controller manager) run on a thread of their own (control-loops.ts).
import { Command, Option } from 'commander';
import { setFlagsFromString } from 'node:v8';
import type { JotasuInformerFactory } from '../client/informer.js';
import { collect, leaderIdentity, parseDuration, parsePortRange, untilSignal } from './flags.js';

export interface ServerFlags {
  dataDir: string;
  httpsListenPort: string;
  bindAddress: string;
  advertiseAddress?: string;
  writeKubeconfig: string;
  disableAgent: boolean;
  datastoreEndpoint?: string;
  datastoreCafile?: string;
  datastoreCertfile?: string;
  datastoreKeyfile?: string;
  disable: string[];
  clusterCidr: string;
  serviceCidr: string;
  serviceNodePortRange: [number, number];
  clusterDns: string;
  clusterDomain: string;
  nodeName?: string;
  tlsSan: string[];
  token?: string;
  etcdCompactionInterval: string;
  ingressHttpPort: string;
  ingressHttpsPort: string;
  ingressWorkers?: string;
  dnsPort: string;
  dnsForward: boolean;
  iptablesChainPrefix: string;
  /** false (--no-control-loop-thread): scheduler and controller manager on the API server's thread. */
  controlLoopThread: boolean;
  proxyMode?: string;
  authorizationMode: string;
  disableAdmissionPlugins: string;
}

/** What each in-process component receives. */
export interface ComponentContext {
  flags: ServerFlags;
  /** Path of the admin kubeconfig written for this server. */
  kubeconfig: string;
  /** The CA (PEM) and a way to mint client certificates for component identities. */
  caPem: string;
  issueClientCert(cn: string, orgs: string[]): Promise<{ certPem: string; keyPem: string }>;
  url: string;
  /** Leader-election identity of this server's components: unique across machines (upstream: hostname_uuid). */
  identity: string;
  /**
   * Informers shared by the scheduler and controller manager on the control-loop thread:
   * one list and watch, one decode and one cache per resource instead of one per
   * component. Started already; informers asked for later start at once.
   */
  informers?: JotasuInformerFactory;
}

export interface RunningComponent { stop(): Promise<void> | void }

interface ComponentEntry {
  name: string;
  /** Runs unless `--disable <name>` (or the predicate) says otherwise. */
  enabled?: (f: ServerFlags) => boolean;
  /** Runs on the control-loop thread (with the shared informers) instead of the API server's. */
  controlLoop?: boolean;
  start(c: ComponentContext): Promise<RunningComponent>;
}

// In-process components, one line each (later issues add scheduler, controller-manager, agent...).
const components: ComponentEntry[] = [
  { name: 'controller-manager', controlLoop: true, start: async (c) => (await import('../controllers/index.js')).startControllerManagerComponent(c) },
  { name: 'scheduler', controlLoop: true, start: async (c) => (await import('../scheduler/index.js')).startSchedulerComponent(c) },
  { name: 'agent', enabled: (f) => !f.disableAgent, start: async (c) => (await import('./agent.js')).startAgentComponent(c) },
  { name: 'proxy', enabled: (f) => !f.disableAgent, start: async (c) => (await import('../proxy/component.js')).startProxyServerComponent(c) },
  { name: 'dns', start: async (c) => (await import('../dns/component.js')).startDnsServerComponent(c) },
  { name: 'ingress', start: async (c) => (await import('../ingress/component.js')).startIngressServerComponent(c) },
];

/** A component by name (the control-loop thread starts its own by name). */
export function componentsByName(name: string): ComponentEntry | undefined {
  return components.find((c) => c.name === name);
}

export function command(): Command {
  return new Command('server')
    .description('run the control plane (API server and, later, scheduler, controllers, agent)')
    .option('--data-dir <dir>', 'state directory', '/var/lib/jotasu')
    .option('--https-listen-port <port>', 'API server port', '6443')
    .option('--bind-address <ip>', 'address the API server listens on', '0.0.0.0')
    .option('--advertise-address <ip>', 'address published in the kubernetes Endpoints (default: the node IP)')
    .option('--write-kubeconfig <file>', 'where to write the admin kubeconfig', '/etc/jotasu/jotasu.yaml')
    .option('--disable-agent', 'do not run the kubelet/proxy in this process', false)
    .option('--datastore-endpoint <url>', 'etcd client URL(s), comma separated (default: embedded SQLite)')
    .option('--datastore-cafile <file>', 'CA for the etcd connection')
    .option('--datastore-certfile <file>', 'client certificate for etcd')
    .option('--datastore-keyfile <file>', 'client key for etcd')
    .addOption(new Option('--token <secret>', 'shared secret of the cluster\'s servers: they share one CA through the datastore (default: DATA_DIR/server/token, generated)').env('JOTASU_TOKEN'))
    .option('--etcd-compaction-interval <duration>', 'how often old revisions of the datastore are compacted, e.g. 5m; 0 disables', '5m')
    .addOption(new Option('--disable <component>', 'do not start a packaged component (repeatable, e.g. ingress)').default([]).argParser(collect))
    .addOption(new Option('--tls-san <name>', 'extra SAN for the serving certificate (repeatable)').default([]).argParser(collect))
    .option('--cluster-cidr <cidr>', 'pod network', '10.42.0.0/16')
    .option('--service-cidr <cidr>', 'service network', '10.43.0.0/16')
    .addOption(new Option('--service-node-port-range <range>', 'port range reserved for NodePort services').default([30000, 32767], '30000-32767').argParser(parsePortRange))
    .option('--cluster-dns <ip>', 'cluster DNS service IP', '10.43.0.10')
    .option('--cluster-domain <domain>', 'cluster domain', 'cluster.local')
    .option('--node-name <name>', 'name of this node (agent)')
    .option('--ingress-http-port <port>', 'ingress controller HTTP port', '80')
    .option('--ingress-https-port <port>', 'ingress controller HTTPS port ("off": none)', '443')
    .option('--ingress-workers <n>', 'ingress proxy worker processes sharing the ports (default: the CPU count; 0: serve inside the server process)')
    .option('--dns-port <port>', 'port of the cluster DNS server on the node address (behind the kube-dns service; a free one if taken)', '53')
    .option('--iptables-chain-prefix <name>', 'prefix of the proxy\'s iptables chains and of its nftables table "<name>-proxy" (distinct per cluster sharing a host)', 'JOTASU')
    .option('--proxy-mode <mode>', 'how the service proxy programs the kernel: iptables or nftables (default: nftables where `nft` works, else iptables)')
    .option('--no-control-loop-thread', 'run the scheduler and controller manager on the API server\'s thread instead of their own (~16 MB less memory, less throughput on several cores)')
    .option('--dns-forward', 'forward names outside the cluster domain to the host\'s resolvers', false)
    .option('--authorization-mode <modes>', 'authorizers after system:masters, in order (upstream\'s flag): Node,RBAC or RBAC (nodes then get the system:node role through the group system:nodes)', 'Node,RBAC')
    .option('--disable-admission-plugins <plugins>', 'admission plugins not to run (upstream\'s flag), comma separated: ServiceAccount, NodeRestriction', '')
    .action(async (flags: ServerFlags) => { limitOldGenerationGrowth(); await runServer(flags); });
}

export async function runServer(flags: ServerFlags): Promise<void> {
  const t0 = Date.now();
  const [{ openDatastore }, { ensureClusterTLS, ensureAdminCert, issueClientCert }, { startApiServer, parseAuthorizationModes, parseDisabledAdmissionPlugins }, { bootstrapClusterTLS, ensureServerToken }, { startCompactor }, { writeKubeconfig }, { logger }, os, path, { startControlLoopThread, startControlLoops }] = await Promise.all([
    import('../datastore/index.js'),
    import('../apiserver/tls.js'),
    import('../apiserver/server.js'),
    import('../apiserver/shared-ca.js'),
    import('../apiserver/compactor.js'),
    import('../client/kubeconfig.js'),
    import('../util/log.js'),
    import('node:os'),
    import('node:path'),
    import('./control-loops.js'),
  ]);
  const log = logger('server');
  // Signals are caught from the start: once the API server is up, a SIGTERM that comes
  // while the components still start waits for them and then shuts down cleanly (the
  // server leaves the kubernetes endpoints); before that there is nothing to hand back.
  let apiUp = false;
  const signalled = untilSignal();
  void signalled.then(() => {
    if (apiUp) return;
    log.info('signal during startup, before the API server was up; exiting');
    process.exit(1);
  });
  const dataDir = path.resolve(flags.dataDir);
  const port = Number(flags.httpsListenPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--https-listen-port: not a port: ${flags.httpsListenPort}`);
  const serviceIP = firstServiceIP(flags.serviceCidr);
  const compactionMs = parseDuration(flags.etcdCompactionInterval);
  const authorizationModes = parseAuthorizationModes(flags.authorizationMode);
  const disabledAdmissionPlugins = parseDisabledAdmissionPlugins(flags.disableAdmissionPlugins ?? '');

  const datastore = await openDatastore({ dataDir, endpoint: flags.datastoreEndpoint, caFile: flags.datastoreCafile, certFile: flags.datastoreCertfile, keyFile: flags.datastoreKeyfile });
  // Servers on one datastore share the CA published there under the token (k3s' bootstrap data).
  const tls = await bootstrapClusterTLS(datastore, dataDir, ensureServerToken(dataDir, flags.token),
    () => ensureClusterTLS(dataDir, { serviceIP, clusterDomain: flags.clusterDomain, extraSANs: flags.tlsSan }));
  const admin = await ensureAdminCert(tls);
  const advertise = flags.advertiseAddress
    ?? (flags.bindAddress !== '0.0.0.0' && flags.bindAddress !== '::' ? flags.bindAddress : primaryIPv4(os.networkInterfaces()));
  const api = await startApiServer({
    datastore, tls, dataDir, port, bindAddress: flags.bindAddress, advertiseAddress: advertise,
    serviceCIDR: flags.serviceCidr, nodePortRange: flags.serviceNodePortRange, tokenFile: path.join(dataDir, 'server', 'tokens'),
    authorizationModes, disabledAdmissionPlugins,
  });
  apiUp = true;
  // kubectl on this machine reaches the server over loopback.
  const kubeconfig = path.resolve(flags.writeKubeconfig);
  writeKubeconfig(kubeconfig, { server: `https://127.0.0.1:${api.port}`, caPem: tls.ca.certPem, certPem: admin.certPem, keyPem: admin.keyPem });
  const compactor = startCompactor({ datastore, intervalMs: compactionMs, onCompacted: (rev) => { for (const c of api.registry.caches.values()) c.setCompactedRevision(rev); } });
  log.info({ kubeconfig, url: api.url, ms: Date.now() - t0 }, 'jotasu server is running');
  process.stdout.write(`Wrote kubeconfig ${kubeconfig}\n`);

  const ctx: ComponentContext = {
    flags, kubeconfig, caPem: tls.ca.certPem, url: `https://127.0.0.1:${api.port}`,
    identity: leaderIdentity(),
    issueClientCert: (cn, orgs) => issueClientCert(tls.ca, cn, orgs),
  };
  const running: { name: string; c: RunningComponent }[] = [];
  const enabled = components.filter((comp) => !flags.disable.includes(comp.name) && (!comp.enabled || comp.enabled(flags)));
  const loops = enabled.filter((comp) => comp.controlLoop).map((comp) => comp.name);
  if (loops.length) {
    const { issueClientCert: _fn, ...threadCtx } = ctx;
    try {
      if (flags.controlLoopThread === false) {
        const r = await startControlLoops(ctx, loops);
        for (const f of r.failed) log.error({ component: f.name, err: f.err }, 'component failed to start');
        running.push({ name: loops.join('+'), c: r.running });
      } else {
        running.push({ name: loops.join('+'), c: await startControlLoopThread(threadCtx, loops, log) });
      }
    } catch (e) {
      log.error({ components: loops, err: (e as Error).stack }, 'control-loop thread failed to start');
    }
  }
  for (const comp of enabled) {
    if (comp.controlLoop) continue;
    try {
      running.push({ name: comp.name, c: await comp.start(ctx) });
    } catch (e) {
      log.error({ component: comp.name, err: (e as Error).stack }, 'component failed to start');
    }
  }

  await signalled;
  log.info('shutting down');
  const hardStop = setTimeout(() => process.exit(0), 10_000);
  hardStop.unref();
  for (const { name, c } of running.reverse()) {
    try { await c.stop(); } catch (e) { log.warn({ component: name, err: (e as Error).message }, 'component stop failed'); }
  }
  compactor.stop();
  await api.close();
  await datastore.close();
  process.exit(0);
}

function firstServiceIP(cidr: string): string {
  const [ip] = cidr.split('/');
  const p = (ip ?? '10.43.0.0').split('.').map(Number);
  p[3] = (p[3] ?? 0) + 1;
  return p.join('.');
}

function primaryIPv4(ifaces: NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>): string {
  for (const list of Object.values(ifaces)) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

// V8 lets the old generation grow to as much as 4x what the last full GC kept before it
// collects again (the factor it picks with a large heap limit). The API server keeps ~35 MB
// live with 10,000 pods, and requests, watch lines and list pages promoted during a burst
// then left 35-110 MB of garbage resident (bench:api). 1.5x bounds that at a few more full
// GCs per burst (each ~35 MB of marking, mostly concurrent). Read at every GC, so it can be
// set when the server starts, at once for every thread's isolate; the start-time settings are in
// bin/jotasu.mjs. Only the server: a standalone agent keeps V8's default, because on exec and
// port-forward uploads ws and TLS allocate ~2.5x the bytes and at 1.5x the agent ran 12-14
// full GCs per 100 MB (0.14 -> 0.4 CPU s per 100 MB, bench:streaming).
// A --heap-growing-percent given to node (command line or NODE_OPTIONS) wins.
function limitOldGenerationGrowth(): void {
  if (![...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => /^--heap[-_]growing[-_]percent/.test(a))) setFlagsFromString('--heap-growing-percent=50');
}
