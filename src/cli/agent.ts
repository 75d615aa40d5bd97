// `jotasu agent`: a worker node, as `k3s agent`. Joins the cluster with the token
// (POST /v1-jotasu/join → its own client certificate CN=system:node:<name>,
// O=system:nodes, kept in DATA_DIR/agent/kubelet.kubeconfig for restarts, and the
// service proxy's, CN=system:kube-proxy, in DATA_DIR/agent/kubeproxy.kubeconfig), then
// runs the kubelet on the built-in runc runtime. Also started inside `jotasu server`
// unless --disable-agent (startAgentComponent).
import { Command, Option } from 'commander';
import { collect } from './flags.js';

/** The proxy's kubeconfig in DATA_DIR/agent. */
const PROXY_KUBECONFIG = 'kubeproxy.kubeconfig';

export interface AgentFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  nodeName?: string;
  dataDir: string;
  drain: boolean;
  disableKubeProxy?: boolean;
  iptablesChainPrefix: string;
  proxyMode?: string;
  nodeIp?: string;
  podCidr?: string;
  clusterDns: string;
  clusterDomain: string;
  bridge: string;
  runDir?: string;
  cgroupRoot: string;
  nodeLabel: string[];
  kubeletPort?: string;
  kubeletAddress?: string;
  /** The shim rotates container logs past this size (kubelet's --container-log-max-size). */
  containerLogMaxSize?: string;
  containerLogMaxFiles?: string;
  /** Pod sandboxes and container starts run at once at most (0: no limit). */
  maxParallelPodStarts?: string;
}

export function command(): Command {
  return new Command('agent')
    .description('run a worker node: join the cluster and run its pods under runc (kubelet)')
    .addOption(new Option('--server <url>', 'API server to join, e.g. https://10.0.0.1:6443').env('JOTASU_URL'))
    .addOption(new Option('--token <token>', 'cluster token (the server\'s DATA_DIR/server/token)').env('JOTASU_TOKEN'))
    .option('--token-file <file>', 'file holding the cluster token')
    .option('--node-name <name>', 'node name (default: the host name)')
    .option('--data-dir <dir>', 'state directory', '/var/lib/jotasu')
    .option('--disable-kube-proxy', 'do not run the service proxy on this node', false)
    .option('--iptables-chain-prefix <name>', 'prefix of the proxy\'s iptables chains and of its nftables table "<name>-proxy" (distinct per cluster sharing a host; `jotasu proxy --cleanup --iptables-chain-prefix` removes them)', 'JOTASU')
    .option('--proxy-mode <mode>', 'how the service proxy programs the kernel: iptables or nftables (default: nftables where `nft` works, else iptables)')
    .option('--drain', 'on shutdown, stop every pod and remove all containers, mounts, cgroups and network namespaces', false)
    .option('--node-ip <ip>', 'IP address advertised for the node')
    .option('--pod-cidr <cidr>', 'pod CIDR to use when the node has no spec.podCIDR (no node IPAM)')
    .option('--cluster-dns <ip>', 'cluster DNS service IP', '10.43.0.10')
    .option('--cluster-domain <domain>', 'cluster domain', 'cluster.local')
    .option('--bridge <name>', 'Linux bridge for pod networking', 'jotasu0')
    .option('--run-dir <dir>', 'volatile runtime state (runc root, namespace mounts)', '/run/jotasu')
    .option('--cgroup-root <name>', 'parent cgroup of every pod', 'jotasu')
    .option('--kubelet-port <port>', 'port of the kubelet\'s HTTPS server (logs, exec, port-forward); 0 = any free port, -1 = off', '10250')
    .option('--kubelet-address <ip>', 'address the kubelet\'s HTTPS server listens on', '0.0.0.0')
    .option('--container-log-max-size <quantity>', 'rotate a container\'s log past this size (the kubelet\'s flag)', '10Mi')
    .option('--container-log-max-files <n>', 'log files kept per container, the live one included (the kubelet\'s flag)', '5')
    .option('--max-parallel-pod-starts <n>', 'pod sandboxes and container starts run at once at most, so that a burst of pods starts as a pipeline (0 = no limit; default max(4, 2 per CPU))')
    .addOption(new Option('--node-label <k=v>', 'extra node label (repeatable)').default([]).argParser(collect))
    .action(async (f: AgentFlags) => {
      // V8 grows the young generation from 1 MB to 16 MB semi-spaces under allocation
      // pressure (a pod burst) and seldom shrinks it: ~30 MB of RSS for a node agent whose
      // heap holds ~15 MB. Growth factor 1 keeps it at its start size, for a few more
      // (cheap) scavenges. The one young-gen setting V8 reads at run time; the size flags
      // only count on the command line, which `jotasu agent` does not control.
      (await import('node:v8')).setFlagsFromString('--semi-space-growth-factor=1');
      const { logger } = await import('../util/log.js');
      const log = logger('agent');
      const agent = await startAgent(f);
      const proxy = f.disableKubeProxy ? undefined : await (await import('../proxy/component.js')).startAgentProxy((await import('node:path')).resolve(f.dataDir, 'agent', PROXY_KUBECONFIG), agent.nodeName, f.iptablesChainPrefix, f.proxyMode);
      let signals = 0;
      await new Promise<void>((resolve) => {
        const on = () => { if (++signals > 1) process.exit(1); resolve(); };
        process.on('SIGINT', on);
        process.on('SIGTERM', on);
      });
      log.info({ drain: f.drain }, 'agent shutting down');
      // Draining may take the pods' grace periods; a hung API server must not keep us.
      setTimeout(() => process.exit(0), f.drain ? 60_000 : 10_000).unref();
      await proxy?.stop();
      await agent.stop({ drain: f.drain });
      process.exit(0);
    });
}

export interface RunningAgent {
  nodeName: string;
  kubelet: import('../kubelet/kubelet.js').Kubelet;
  stop(opts?: { drain?: boolean }): Promise<void>;
}

interface Credentials { server: string; caPem: string; certPem: string; keyPem: string; servingCertPem?: string; servingKeyPem?: string }

/** Fetches node credentials with the token, or reuses the saved ones for this server and node. */
async function joinCluster(server: string, token: string, nodeName: string, dataDir: string, addresses: string[]): Promise<Credentials> {
  const { readFileSync, existsSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { X509Certificate } = await import('node:crypto');
  const { loadKubeconfig, writeKubeconfig } = await import('../client/kubeconfig.js');
  const { joinMac, joinMacCerts, tokenSecret, JOIN_PATH } = await import('../apiserver/join.js');
  const file = join(dataDir, 'agent', 'kubelet.kubeconfig');
  const proxyFile = join(dataDir, 'agent', PROXY_KUBECONFIG);
  if (existsSync(file)) {
    try {
      const k = loadKubeconfig(file);
      const cert = new X509Certificate(k.certData!);
      const servingCert = join(dataDir, 'agent', 'serving-kubelet.crt');
      // Credentials of an agent that joined before the proxy had its own are renewed.
      if (k.server === server && cert.subject.includes(`CN=system:node:${nodeName}`) && Date.parse(cert.validTo) > Date.now() + 86_400_000 && existsSync(servingCert) && existsSync(proxyFile)) {
        return { server, caPem: k.caData!.toString(), certPem: k.certData!.toString(), keyPem: k.keyData!.toString(),
          servingCertPem: readFileSync(servingCert, 'utf8'), servingKeyPem: readFileSync(join(dataDir, 'agent', 'serving-kubelet.key'), 'utf8') };
      }
    } catch { /* re-join */ }
  }
  const secret = tokenSecret(token);
  const https = await import('node:https');
  // The CA is not known yet: TLS is not verified here, the answer's HMAC (keyed with the token) is.
  const body = JSON.stringify({ nodeName, addresses });
  const url = new URL(JOIN_PATH, server);
  const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = https.request(url, { method: 'POST', rejectUnauthorized: false, headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }, timeout: 30_000 }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (d: Buffer) => chunks.push(d));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', (e) => reject(new Error(`joining ${server}: ${e.message}`)));
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end(body);
  });
  if (res.status !== 200) throw new Error(`joining ${server}: ${res.status} ${res.text.slice(0, 300)}`);
  const j = JSON.parse(res.text) as Required<Credentials> & { mac: string; proxyCertPem: string; proxyKeyPem: string };
  if (j.mac !== joinMac(secret, j.caPem, joinMacCerts(j))) throw new Error(`joining ${server}: the server's answer is not signed with this token (wrong token or an impostor)`);
  writeKubeconfig(file, { server, caPem: j.caPem, certPem: j.certPem, keyPem: j.keyPem });
  writeKubeconfig(proxyFile, { server, caPem: j.caPem, certPem: j.proxyCertPem, keyPem: j.proxyKeyPem });
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dataDir, 'agent', 'serving-kubelet.crt'), j.servingCertPem);
  writeFileSync(join(dataDir, 'agent', 'serving-kubelet.key'), j.servingKeyPem, { mode: 0o600 });
  return { server, caPem: j.caPem, certPem: j.certPem, keyPem: j.keyPem, servingCertPem: j.servingCertPem, servingKeyPem: j.servingKeyPem };
}

export async function startAgent(f: AgentFlags & { credentials?: Credentials; labels?: Record<string, string> }): Promise<RunningAgent> {
  const { hostname } = await import('node:os');
  const { resolve, join } = await import('node:path');
  const { readFileSync, mkdirSync } = await import('node:fs');
  const { createClient } = await import('../client/rest.js');
  const { startKubelet } = await import('../kubelet/kubelet.js');
  const { RuncRuntime } = await import('../runtime/runc.js');
  const { VERSION } = await import('../util/version.js');
  const dataDir = resolve(f.dataDir);
  // Checked before joining: a typo must not leave a node that runs no pods.
  const { quantityValue } = await import('../api/quantity.js');
  const containerLogMaxSize = f.containerLogMaxSize === undefined ? undefined : quantityValue(f.containerLogMaxSize);
  const containerLogMaxFiles = f.containerLogMaxFiles === undefined ? undefined : Number(f.containerLogMaxFiles);
  if (containerLogMaxFiles !== undefined && !(Number.isInteger(containerLogMaxFiles) && containerLogMaxFiles >= 2)) {
    throw new Error(`--container-log-max-files must be an integer of at least 2 (got ${f.containerLogMaxFiles})`);
  }
  const maxParallelStarts = f.maxParallelPodStarts === undefined ? undefined : Number(f.maxParallelPodStarts);
  if (maxParallelStarts !== undefined && !(Number.isInteger(maxParallelStarts) && maxParallelStarts >= 0)) {
    throw new Error(`--max-parallel-pod-starts must be an integer of at least 0 (got ${f.maxParallelPodStarts})`);
  }
  mkdirSync(join(dataDir, 'agent'), { recursive: true });
  const nodeName = (f.nodeName ?? hostname()).toLowerCase();
  let creds = f.credentials;
  if (!creds) {
    if (!f.server) throw new Error('--server is required');
    const token = f.token ?? (f.tokenFile ? readFileSync(f.tokenFile, 'utf8').trim() : undefined);
    if (!token) throw new Error('--token or --token-file is required');
    const { defaultNodeIP } = await import('../kubelet/node-status.js');
    creds = await joinCluster(f.server, token, nodeName, dataDir, [f.nodeIp ?? defaultNodeIP(), hostname()]);
  }
  const client = createClient({
    server: creds.server, caData: Buffer.from(creds.caPem), certData: Buffer.from(creds.certPem), keyData: Buffer.from(creds.keyPem),
    userAgent: `jotasu-kubelet/${VERSION}`, qps: 100, burst: 200,
    // A few connections, not the default 64: a burst of pods sends a TokenRequest, status
    // writes and events for each at once, which opened ~40 connections that then stayed
    // alive, ~110 KB of TLS state each (upstream's kubelet multiplexes all on one HTTP/2
    // connection). The API server is one event loop; more connections add no throughput.
    maxConnections: 8,
  });
  const labels: Record<string, string> = { ...(f.labels ?? {}) };
  for (const l of f.nodeLabel ?? []) { const i = l.indexOf('='); labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1); }
  // The kubelet's HTTPS server (logs, exec, attach, port-forward for the API server's
  // proxy) starts first so the node can advertise its port; it reaches the runtime
  // lazily, since that exists only once the node has a pod CIDR.
  let kubelet: import('../kubelet/kubelet.js').Kubelet | undefined;
  let server: { port: number; close(): Promise<void> } | undefined;
  let shimBinary: Promise<string> | undefined;
  const port = Number(f.kubeletPort ?? 10250);
  if (creds.servingCertPem && creds.servingKeyPem && port >= 0) {
    const { startKubeletServer } = await import('../kubelet/server/server.js');
    const { lazyRuntime } = await import('../kubelet/kubelet.js');
    server = await startKubeletServer({
      runtime: lazyRuntime(() => kubelet?.runtime()),
      // The runtime's shim binary (the same source, so the same file; built at its init).
      runc: { root: join(f.runDir ?? '/run/jotasu', 'runc'), bin: 'runc', shim: () => (shimBinary ??= import('../runtime/shim.js').then((m) => m.ensureShim(join(dataDir, 'agent', 'bin')))) },
      tls: { cert: creds.servingCertPem, key: creds.servingKeyPem, clientCA: creds.caPem },
      port, address: f.kubeletAddress,
      pods: { getPod: (ns, n) => kubelet?.pod(ns, n), listPods: () => kubelet?.pods() ?? [] },
    });
  }
  kubelet = await startKubelet({
    client, nodeName, dataDir, nodeIP: f.nodeIp, podCIDR: f.podCidr, kubeletPort: server?.port,
    clusterDNS: [f.clusterDns], clusterDomain: f.clusterDomain, labels,
    runtime: async (podCIDR) => {
      const rt = new RuncRuntime({ dataDir, podCIDR, bridge: f.bridge, runDir: f.runDir, cgroupRoot: f.cgroupRoot, containerLogMaxSize, containerLogMaxFiles, maxParallelStarts });
      await rt.init();
      return rt;
    },
  });
  return {
    nodeName, kubelet: kubelet!,
    async stop(o = {}) {
      await server?.close().catch(() => undefined);
      await kubelet!.stop({ drain: o.drain });
      client.close();
    },
  };
}

/** The agent inside `jotasu server` (same data dir; credentials minted directly from the CA). */
export async function startAgentComponent(c: import('./server.js').ComponentContext): Promise<{ stop(): Promise<void> }> {
  const { hostname } = await import('node:os');
  const f = c.flags;
  const nodeName = (f.nodeName ?? hostname()).toLowerCase();
  const kp = await c.issueClientCert(`system:node:${nodeName}`, ['system:nodes']);
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { issueKubeletServingCert } = await import('../kubelet/server/certs.js');
  const { defaultNodeIP } = await import('../kubelet/node-status.js');
  const tlsDir = join(f.dataDir, 'server', 'tls');
  const serving = await issueKubeletServingCert({ certPem: c.caPem, keyPem: readFileSync(join(tlsDir, 'server-ca.key'), 'utf8') }, nodeName, [defaultNodeIP(), hostname()]);
  const agent = await startAgent({
    dataDir: f.dataDir, nodeName, drain: false, clusterDns: f.clusterDns, clusterDomain: f.clusterDomain,
    iptablesChainPrefix: f.iptablesChainPrefix, bridge: 'jotasu0', cgroupRoot: 'jotasu', nodeLabel: [],
    credentials: { server: c.url, caPem: c.caPem, certPem: kp.certPem, keyPem: kp.keyPem, servingCertPem: serving.certPem, servingKeyPem: serving.keyPem },
  });
  // A server node, labelled as k3s labels its servers: by the server, since NodeRestriction
  // keeps kubelets from setting node-role labels on themselves.
  const { createClientFromKubeconfig } = await import('../client/rest.js');
  const { R } = await import('../api/resources.js');
  const admin = createClientFromKubeconfig(c.kubeconfig);
  try {
    await admin.resource(R.nodes).patch(nodeName, 'merge', { metadata: { labels: { 'node-role.kubernetes.io/control-plane': 'true', 'node-role.kubernetes.io/master': 'true' } } });
  } finally {
    admin.close();
  }
  return { stop: () => agent.stop({ drain: false }) };
}
