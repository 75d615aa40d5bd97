// Runs inside a test network namespace (spawned with `ip netns exec NS node this.mjs ...`):
//   serve <name> <tcpPort> [udpPort]  HTTP server answering "<name> <client address>", UDP echo
//   get <url> <count>                 <count> requests on fresh connections; JSON lines of results
import http from 'node:http';
import dgram from 'node:dgram';

const [mode, ...args] = process.argv.slice(2);
if (mode === 'serve') {
  const [name, port, udpPort] = args;
  const srv = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`${name} ${req.socket.remoteAddress}`);
  });
  srv.listen(Number(port), '0.0.0.0', () => process.stdout.write('ready\n'));
  if (udpPort) {
    const u = dgram.createSocket('udp4');
    u.on('message', (m, r) => u.send(`${name} ${r.address} ${m}`, r.port, r.address));
    u.bind(Number(udpPort), '0.0.0.0');
  }
} else if (mode === 'get') {
  const [url, count] = args;
  const n = Number(count ?? 1);
  for (let i = 0; i < n; i++) {
    const t0 = Date.now();
    const r = await new Promise((resolve) => {
      const req = http.get(url, { agent: false, timeout: 3000 }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ ok: true, status: res.statusCode, body }));
      });
      req.on('timeout', () => { req.destroy(new Error('timeout')); });
      req.on('error', (e) => resolve({ ok: false, error: e.code ?? e.message }));
    });
    process.stdout.write(JSON.stringify({ ...r, ms: Date.now() - t0 }) + '\n');
  }
} else if (mode === 'udp') {
  const [host, port, msg] = args;
  const u = dgram.createSocket('udp4');
  const t = setTimeout(() => { process.stdout.write(JSON.stringify({ ok: false, error: 'timeout' }) + '\n'); process.exit(0); }, 2000);
  u.on('message', (m) => { clearTimeout(t); process.stdout.write(JSON.stringify({ ok: true, body: String(m) }) + '\n'); process.exit(0); });
  u.on('error', (e) => { clearTimeout(t); process.stdout.write(JSON.stringify({ ok: false, error: e.code }) + '\n'); process.exit(0); });
  u.send(msg ?? 'ping', Number(port), host);
}
