// The etcdctl-level baseline of bench:datastore: a separate process (as etcdctl is)
// that keeps one connection to etcd and times sequential Put RPCs over loopback.
// Plain ESM (no tsx). Both clients speak gRPC through @grpc/grpc-js, the library the
// API server uses too; they alternate batch by batch:
//   grpc-js: the API server's own etcd client module (src/datastore/etcd-rpc.ts,
//            compiled): the same library with the same channel options: the baseline;
//   etcd3:   the `etcd3` package's KV stub (grpc-js under etcd3's wrapper, its default
//            options, no retry policy), for reference.
//
// Protocol (lines on stdin/stdout, JSON):
//   in:  {"endpoint": "...", "value": "<bytes to put>", "rpcModule": "<path of compiled etcd-rpc.js>"}   once, first
//   in:  {"n": 200, "prefix": "/raw/pair/", "client": "grpc-js" | "etcd3"}                               a batch
//   out: {"lat": [ms, ...], "cpuMs": <this process's CPU for the batch>}
import { createInterface } from 'node:readline';
import { Etcd3 } from 'etcd3';

const noRetry = { execute: (fn) => Promise.resolve().then(() => fn({ signal: new AbortController().signal, attempt: 0 })) };

const clients = {};
let value;
let seq = 0;
let closeAll = () => undefined;
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const msg = JSON.parse(line);
  if (msg.endpoint) {
    const { EtcdRpc, RPC } = await import(msg.rpcModule);
    const rpc = new EtcdRpc({ endpoints: [msg.endpoint] });
    const etcd3 = new Etcd3({ hosts: [msg.endpoint], faultHandling: { global: noRetry, host: () => noRetry } });
    clients['grpc-js'] = (key) => rpc.unary(RPC.put, { key, value });
    clients.etcd3 = (key) => etcd3.kv.put({ key, value });
    closeAll = () => { rpc.close(); etcd3.close(); };
    value = Buffer.from(msg.value);
    for (const put of Object.values(clients)) await put(Buffer.from('/raw/warm')); // connect before timing
    process.stdout.write('{"ready":true}\n');
    continue;
  }
  const put = clients[msg.client];
  const lat = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < msg.n; i++) {
    const key = Buffer.from(`${msg.prefix}${seq++}`);
    const s = performance.now();
    await put(key);
    lat.push(performance.now() - s);
  }
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ lat, cpuMs: (cpu.user + cpu.system) / 1000 }) + '\n');
}
closeAll();
