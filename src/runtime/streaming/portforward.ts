// A TCP connection to 127.0.0.1:PORT inside a pod's network namespace, for port-forward.
//
// Node cannot setns(2), so each connection is a small process that enters the namespace
// and relays stdio to the socket: `nsenter --net=<ns> busybox nc 127.0.0.1 PORT`.
// busybox nc half-closes the socket when its stdin ends, so half-closed streams work.
// The fork costs about a millisecond per connection, and the relay tops out near
// 270 MB/s (busybox nc copies in small buffers). So when the pod's IP is known we first
// connect straight to podIP:PORT from the host (the pod network is routed to the node),
// which is what a server listening on all addresses sees either way, and fall back to
// the namespace relay when that is refused (a server bound to 127.0.0.1 only).
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { Duplex } from 'node:stream';

export interface PodDialer {
  /** Opens a connection; errors (refused port) arrive as the stream's 'error'. */
  dial(netnsPath: string | undefined, port: number, podIP?: string): Duplex;
}

export class PortDialError extends Error {
  constructor(message: string, readonly port: number) { super(message); this.name = 'PortDialError'; }
}

export function nsenterDialer(opts: { nc?: string[]; direct?: boolean } = {}): PodDialer {
  const nc = opts.nc ?? ['busybox', 'nc'];
  const relay = (netns: string | undefined, port: number): Duplex => relayDial(nc, netns, port);
  return {
    dial(netns, port, podIP) {
      if (!podIP || opts.direct === false) return relay(netns, port);
      return directThenRelay(podIP, port, () => relay(netns, port));
    },
  };
}

/**
 * A Duplex that is a direct socket to ip:port, or, if that connection is refused before
 * anything was written to it, the fallback's stream. Writes wait until the choice is made.
 */
function directThenRelay(ip: string, port: number, fallback: () => Duplex): Duplex {
  let target: Duplex | undefined;
  let pending: { chunk: Buffer; cb: (e?: Error | null) => void }[] = [];
  let ended = false;
  let finalCb: ((e?: Error | null) => void) | undefined;
  const out: Duplex = new Duplex({
    allowHalfOpen: true,
    write(chunk: Buffer, _e, cb) { if (target) { if (target.write(chunk)) cb(); else target.once('drain', () => cb()); } else pending.push({ chunk, cb }); },
    final(cb) { ended = true; if (target) { target.end(); cb(); } else finalCb = cb; },
    read() { target?.resume(); },
    destroy(err, cb) { target?.destroy(); cb(err); },
  });
  const use = (t: Duplex) => {
    target = t;
    t.on('data', (d: Buffer) => { if (!out.push(d)) t.pause(); });
    t.on('end', () => out.push(null));
    t.on('error', (e: Error) => out.destroy(e));
    for (const p of pending) t.write(p.chunk, () => p.cb());
    pending = [];
    if (ended) { t.end(); finalCb?.(); }
  };
  const sock = connect({ host: ip, port, noDelay: true });
  sock.once('connect', () => { sock.removeAllListeners('error'); use(sock); });
  sock.once('error', () => { sock.destroy(); use(fallback()); });
  return out;
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
