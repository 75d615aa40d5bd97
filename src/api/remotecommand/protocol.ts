// The remote-command wire protocol shared by the kubelet's streaming server and its
// clients (k8s.io/apimachinery/pkg/util/remotecommand, KEP-4006): WebSocket messages
// whose first byte names the channel. v4 added the Status JSON on the error channel
// with the exit code; v5 adds channel 255 by which the client says "stream N closed"
// (kubectl uses it to signal the end of stdin).
import type { Status } from 'kubernetes-types/meta/v1.js';

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const ERROR = 3;
export const RESIZE = 4;
/** v5: `[255, N]` closes the client's side of stream N. */
export const CLOSE = 255;

/** Subprotocols for exec/attach, best first (what the server picks among the client's offers). */
export const REMOTECOMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;
/** kubectl >= 1.31 tunnels SPDY port-forward over a WebSocket with this subprotocol. */
export const PORTFORWARD_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';
/** The SPDY (plain HTTP upgrade) port-forward protocol name, header X-Stream-Protocol-Version. */
export const PORTFORWARD_PROTOCOL = 'portforward.k8s.io';

export interface TerminalSize { width: number; height: number }

/** Parses a resize message body `{"Width":80,"Height":24}`; undefined when malformed. */
export function parseResize(body: Buffer): TerminalSize | undefined {
  try {
    const o = JSON.parse(body.toString('utf8')) as { Width?: unknown; Height?: unknown };
    const width = Number(o.Width), height = Number(o.Height);
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) return undefined;
    return { width, height };
  } catch {
    return undefined;
  }
}

/** One channel message: the channel byte, then the payload. */
export function frame(channel: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const out = Buffer.allocUnsafe(p.length + 1);
  out[0] = channel;
  p.copy(out, 1);
  return out;
}

export function successStatus(): Status {
  return { metadata: {}, status: 'Success' };
}

/**
 * The Status kubectl turns into its own exit code: reason NonZeroExitCode and a cause
 * ExitCode whose message is the number (as upstream's kubelet writes it).
 */
export function exitCodeStatus(cmd: string[], code: number): Status {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${cmd.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

/** Any other failure of the streamed command (it could not start, the container is gone...). */
export function errorStatus(message: string): Status {
  return { metadata: {}, status: 'Failure', message, reason: 'InternalError', code: 500 };
}
