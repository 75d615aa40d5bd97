// A TCP connection to 127.0.0.1:PORT inside a pod's network namespace, for port-forward.
//
// Node cannot setns(2), so each connection is a small process that enters the namespace
// and relays stdio to the socket: `nsenter --net=<ns> busybox nc 127.0.0.1 PORT`.
// busybox nc half-closes the socket when its stdin ends, so half-closed streams work.
// The fork costs about a millisecond per connection; bench/streaming.ts measures the
// throughput beside a direct connection.
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';

export interface PodDialer {
  /** Opens a connection; errors (refused port) arrive as the stream's 'error'. */
  dial(netnsPath: string | undefined, port: number): Duplex;
}

export class PortDialError extends Error {
  constructor(message: string, readonly port: number) { super(message); this.name = 'PortDialError'; }
}

export function nsenterDialer(opts: { nc?: string[] } = {}): PodDialer {
  const nc = opts.nc ?? ['busybox', 'nc'];
  return {
    dial(netns, port) {
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
    },
  };
}
