// Runs the tools the proxy drives (nft, iptables-restore, conntrack), optionally inside
// a network namespace: the tests and benchmarks program a namespace, not the host.
import { spawn } from 'node:child_process';

export interface ExecResult { code: number; stdout: string; stderr: string }
export type Exec = (cmd: string, args: string[], input?: string) => Promise<ExecResult>;

/** Runs commands, optionally inside a network namespace (`ip netns exec NS ...`), for tests. */
export function makeExec(netns?: string): Exec {
  return (cmd, args, input) => new Promise((resolve, reject) => {
    const [c, a] = netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, args];
    const child = spawn(c, a, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [], err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.on('error', () => { /* the exit code reports it */ });
    child.stdin.end(input ?? '');
  });
}
