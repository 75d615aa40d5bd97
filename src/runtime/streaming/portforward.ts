// A TCP connection to 127.0.0.1:PORT inside a pod's network namespace, for port-forward.
//
// Node cannot setns(2), so each connection is a small process that enters the namespace
// and relays stdio to the socket: `nsenter --net=<ns> busybox nc 127.0.0.1 PORT`.
// busybox nc half-closes the socket when its stdin ends, so half-closed streams work.
// The fork costs about a millisecond per connection, and the relay tops out near
// 270 MB/s (busybox nc copies in small buffers). So when the pod's IP is known we first
// connect straight to podIP:PORT from the host (the pod network is routed to the node),
// which is what a server listening on all addresses sees either way, and fall back to
// the namespace relay when that is refused (a server bound to 127.0.0.1 only). dial()
// resolves once that choice is made, so the relay reads the socket itself (no stream
// layer in between on the fast path).
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';

export interface PodDialer {
  /**
   * Opens a connection: the socket to podIP:port, or the in-namespace relay. Errors of the
   * relay (refused port inside the namespace) arrive later as the stream's 'error'.
   */
  dial(netnsPath: string | undefined, port: number, podIP?: string): Promise<Duplex>;
}

export class PortDialError extends Error {
  constructor(message: string, readonly port: number) { super(message); this.name = 'PortDialError'; }
}

export function nsenterDialer(opts: { nc?: string[]; direct?: boolean } = {}): PodDialer {
  const nc = opts.nc ?? ['busybox', 'nc'];
  const relay = (netns: string | undefined, port: number): Duplex => relayDial(nc, netns, port);
  return {
    async dial(netns, port, podIP) {
      if (!podIP || opts.direct === false) return relay(netns, port);
      return await directSocket(podIP, port) ?? relay(netns, port);
    },
  };
}

/** A connected socket to ip:port, or undefined when that is refused or unreachable. */
function directSocket(ip: string, port: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    // allowHalfOpen: the client's FIN half-closes the pod connection; the pod's answer still flows.
    const sock = connect({ host: ip, port, noDelay: true, allowHalfOpen: true });
    sock.once('connect', () => { sock.removeAllListeners('error'); resolve(sock); });
    sock.once('error', () => { sock.destroy(); resolve(undefined); });
  });
}

function relayDial(nc: string[], netns: string | undefined, port: number): Duplex {
  const cmd = netns ? 'nsenter' : nc[0]!;
  const args = netns ? [`--net=${netns}`, ...nc, '127.0.0.1', String(port)] : [...nc.slice(1), '127.0.0.1', String(port)];
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let gotData = false;
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const duplex = new Duplex({
    allowHalfOpen: true,
    write(chunk: Buffer, _enc, cb) {
      if (child.stdin.destroyed) { cb(); return; }
      if (child.stdin.write(chunk)) cb(); else child.stdin.once('drain', () => cb());
    },
    final(cb) { child.stdin.end(); cb(); },
    read() { child.stdout.resume(); },
    destroy(err, cb) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      cb(err);
    },
  });
  child.stdin.on('error', () => { /* nc went away; exit handling reports it */ });
  child.stdout.on('data', (d: Buffer) => { gotData = true; if (!duplex.push(d)) child.stdout.pause(); });
  child.on('error', (e) => duplex.destroy(new PortDialError(`failed to start nsenter for port ${port}: ${e.message}`, port)));
  child.on('close', (code) => {
    if (code !== 0 && !gotData) {
      const why = stderr.trim().replace(/^nc: /, '') || `exit code ${code}`;
      duplex.destroy(new PortDialError(`failed to connect to localhost:${port} inside namespace "${netns ?? 'host'}": ${why}`, port));
      return;
    }
    duplex.push(null);
  });
  return duplex;
}
