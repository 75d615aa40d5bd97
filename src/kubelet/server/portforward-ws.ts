// Port-forward over a WebSocket with channels, as upstream's kubelet serves it to clients
// that speak WebSocket rather than SPDY (client libraries: Python, JavaScript, ...; kubectl
// tunnels SPDY instead, see portforward.ts). The ports come in the query (`port=8080,9090`,
// which the API server makes from the client's `ports`). For the i-th port, channel 2i
// carries data both ways and channel 2i+1 errors from us; each channel opens with the port
// number (2 bytes, little endian). Subprotocol v4.channel.k8s.io (or none): binary
// messages, first byte the channel; v4.base64.channel.k8s.io: text messages, the channel
// as an ASCII digit, then the data in base64. Every port's pod connection is opened at
// once; the WebSocket closes when all of them are over.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { PodDialer } from '../../runtime/streaming/portforward.js';
import { HttpError } from './resolve.js';
import { channelWriter } from './remotecommand.js';
import { logger } from '../../util/log.js';

const log = logger('kubelet-server');

export const PORTFORWARD_BINARY_PROTOCOL = 'v4.channel.k8s.io';
export const PORTFORWARD_BASE64_PROTOCOL = 'v4.base64.channel.k8s.io';

/** The `port` query parameter (repeatable, comma-separated); 400 with upstream's messages. */
export function parsePortForwardPorts(q: URLSearchParams): number[] {
  const values = q.getAll('port');
  if (!values.length) throw new HttpError(400, 'query parameter "port" is required');
  const ports: number[] = [];
  for (const v of values) {
    if (!v) throw new HttpError(400, 'query parameter "port" cannot be empty');
    for (const p of v.split(',')) {
      const n = /^\d+$/.test(p) ? Number(p) : NaN;
      if (!(n <= 65535)) throw new HttpError(400, `unable to parse "${v}" as a port: strconv.ParseUint: parsing "${p}": ${Number.isNaN(n) ? 'invalid syntax' : 'value out of range'}`);
      if (n < 1) throw new HttpError(400, `port "${v}" must be > 0`);
      ports.push(n);
    }
  }
  return ports;
}

/** The subprotocol to answer with for these offers; undefined when none is supported. */
export function choosePortForwardProtocol(offered: string[]): string | undefined {
  if (!offered.length) return '';
  return [PORTFORWARD_BINARY_PROTOCOL, PORTFORWARD_BASE64_PROTOCOL].find((p) => offered.includes(p));
}

/** Client data held for connections being dialled before the WebSocket is paused. */
const PENDING_LIMIT = 1024 * 1024;
/** Base64 output waits for the socket beyond this much queued. */
const BASE64_HIGH_WATER = 1024 * 1024;

type Target = { netns?: string; ip?: string; pod: string; uid: string };

export function serveChannelPortForward(ws: WebSocket, ports: number[], target: Target, dialer: PodDialer): void {
  const base64 = ws.protocol === PORTFORWARD_BASE64_PROTOCOL;
  const conns: (Duplex | undefined)[] = ports.map(() => undefined);
  /** Client data for connections still being dialled (undefined once dialled or failed). */
  const pending: (Buffer[] | undefined)[] = ports.map(() => []);
  let pendingBytes = 0;
  let pendingPaused = false;
  let open = ports.length;
  let paused = 0;

  const sendText = (channel: number, data: Buffer, cb?: () => void) => {
    if (ws.readyState === ws.OPEN) ws.send(String.fromCharCode(48 + channel) + data.toString('base64'), cb);
  };
  const send = (channel: number, data: Buffer) => {
    if (base64) sendText(channel, data);
    else if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.of(channel), data]));
  };
  const portDone = () => { if (--open === 0 && ws.readyState === ws.OPEN) ws.close(1000); };

  ws.on('message', (msg: Buffer) => {
    if (!msg.length) return;
    const channel = base64 ? msg[0]! - 48 : msg[0]!;
    const i = channel / 2;
    // Odd channels (errors) are ours to write.
    if (!Number.isInteger(i) || i >= ports.length) return;
    const body = base64 ? Buffer.from(msg.subarray(1).toString(), 'base64') : msg.subarray(1);
    if (!body.length) return;
    const conn = conns[i];
    if (!conn) {
      // Sent before the pod connection is up (the port prefix goes out first): kept for it.
      const p = pending[i];
      if (!p) return;
      p.push(body);
      if ((pendingBytes += body.length) > PENDING_LIMIT && !pendingPaused) {
        pendingPaused = true;
        if (paused++ === 0) ws.pause();
      }
      return;
    }
    if (conn.writableEnded) return;
    if (!conn.write(body)) {
      // The pod reads slower than the client sends: stop reading the WebSocket meanwhile.
      if (paused++ === 0) ws.pause();
      conn.once('drain', () => { if (--paused === 0) ws.resume(); });
    }
  });
  ws.on('close', () => { for (const c of conns) c?.destroy(); });
  ws.on('error', (e) => log.debug({ err: e.message }, 'port-forward websocket error'));

  ports.forEach((port, i) => {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    send(2 * i, prefix);
    send(2 * i + 1, prefix);
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      if (err) {
        log.debug({ port, err: err.message }, 'port-forward failed');
        send(2 * i + 1, Buffer.from(`error forwarding port ${port} to pod ${target.pod}, uid ${target.uid}: ${err.message}`));
      }
      portDone();
    };
    const flushPending = (conn?: Duplex) => {
      const p = pending[i] ?? [];
      pending[i] = undefined;
      for (const b of p) { pendingBytes -= b.length; conn?.write(b); }
      if (pendingPaused && pendingBytes <= PENDING_LIMIT) {
        pendingPaused = false;
        if (--paused === 0) ws.resume();
      }
    };
    dialer.dial(target.netns, port, target.ip).then((conn) => {
      if (ws.readyState !== ws.OPEN) { conn.destroy(); return; }
      conns[i] = conn;
      flushPending(conn);
      conn.on('error', (e: Error) => finish(e));
      if (base64) {
        conn.on('data', (d: Buffer) => {
          if (ws.bufferedAmount < BASE64_HIGH_WATER) { sendText(2 * i, d); return; }
          conn.pause();
          sendText(2 * i, d, () => conn.resume());
        });
        conn.on('end', () => finish());
      } else {
        // Done once the writer has handed everything to the WebSocket (not at the pod's
        // EOF, when the last chunks may still wait in the writer).
        const out = channelWriter(ws, 2 * i);
        out.on('finish', () => finish());
        conn.pipe(out);
      }
    }, (e: Error) => { flushPending(); finish(e); });
  });
}
