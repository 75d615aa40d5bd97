// Port-forward over SPDY (portforward.k8s.io), as upstream's kubelet serves it: for each
// forwarded connection the client opens two streams with the same requestID, an "error"
// stream and a "data" stream, both naming the port. Once both exist we connect to the
// port inside the pod's network namespace and relay; a failure is written as text on the
// error stream. Closing the error stream tells the client the connection is over.
import type { Duplex } from 'node:stream';
import type { SpdySession, SpdyStream } from '../../api/remotecommand/spdy.js';
import type { PodDialer } from '../../runtime/streaming/portforward.js';
import { logger } from '../../util/log.js';
import { readIntoBuffers } from '../../util/read-into-buffers.js';
import { batchedPipe } from '../../util/batched-pipe.js';

const log = logger('kubelet-server');

/** How long a half-announced pair (one of data/error) may wait for its partner. */
const PAIR_TIMEOUT_MS = 30_000;

interface Pair { data?: SpdyStream; error?: SpdyStream; timer?: NodeJS.Timeout }

export function servePortForward(session: SpdySession, target: { netns?: string; ip?: string; pod: string; uid: string }, dialer: PodDialer): void {
  const pairs = new Map<string, Pair>();
  session.on('stream', (s) => {
    const type = s.headers['streamtype'];
    const port = Number(s.headers['port']);
    const reqId = s.headers['requestid'] ?? s.headers['port'] ?? '';
    if ((type !== 'data' && type !== 'error') || !Number.isInteger(port) || port < 1 || port > 65535) {
      log.debug({ headers: s.headers }, 'port-forward: bad stream headers');
      s.reset();
      return;
    }
    s.reply();
    let p = pairs.get(reqId);
    if (!p) {
      p = {};
      pairs.set(reqId, p);
      p.timer = setTimeout(() => {
        pairs.delete(reqId);
        p!.data?.reset(); p!.error?.reset();
      }, PAIR_TIMEOUT_MS);
    }
    if (type === 'data') p.data = s; else p.error = s;
    if (p.data && p.error) {
      clearTimeout(p.timer);
      pairs.delete(reqId);
      void forward(p.data, p.error, port, target, dialer);
    }
  });
  session.on('close', () => { for (const p of pairs.values()) clearTimeout(p.timer); pairs.clear(); });
}

async function forward(data: SpdyStream, error: SpdyStream, port: number, target: { netns?: string; ip?: string; pod: string; uid: string }, dialer: PodDialer): Promise<void> {
  // The client closes its side of the error stream at once; we only write to it.
  error.resume();
  let done = false;
  function finish(): void {
    if (done) return;
    done = true;
    if (!data.writableEnded) data.end();
    if (!error.writableEnded) error.end();
  }
  function fail(e: Error): void {
    if (done) return;
    const msg = `error forwarding port ${port} to pod ${target.pod}, uid ${target.uid}: ${e.message}`;
    log.debug({ port, err: e.message }, 'port-forward failed');
    if (!error.writableEnded) error.write(msg);
    finish();
  }
  let conn: Duplex;
  try {
    conn = await dialer.dial(target.netns, port, target.ip);
  } catch (e) {
    fail(e as Error);
    return;
  }
  // The client gave up (reset, connection closed) while we dialled.
  if (data.destroyed) { conn.destroy(); return; }
  conn.on('error', (e: Error) => fail(e));
  data.on('error', () => conn.destroy());
  data.on('close', () => { if (!conn.writableEnded) conn.end(); });
  // Client → pod, the frames of one read in one write; the client's FIN half-closes the pod connection.
  batchedPipe(data, conn);
  // Pod → client, read straight into DATA frames when the connection is a socket; the
  // pod's EOF ends the data stream and the error stream.
  const intake = data.intake();
  if (readIntoBuffers(conn, intake)) {
    intake.onResume(() => conn.resume());
    conn.resume();
  } else {
    conn.on('data', (d: Buffer) => { if (!data.write(d)) { conn.pause(); data.once('drain', () => conn.resume()); } });
  }
  conn.on('end', finish);
}
