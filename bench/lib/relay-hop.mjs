// One hop of bench:streaming's ceiling chain: accepts connections (TCP or TLS) and relays
// each to a target (TCP or TLS), nothing decoded or framed. Three of these stand where
// kubectl, the API server and the agent stand in the real path, so the chain costs what
// the sockets and TLS of that path cost in Node and no more. With `relayModule` (the
// compiled src/apiserver/proxy/relay.js) the bytes move as the API server moves them
// (slab reads, one write at a time); without, by plain pipe().
// Config: JSON in argv[2] { name, listenTls, connect: { host, port, tls }, cert, key, ca,
// ciphers?, relayModule? }; prints the listening port on stdout.
import { createServer as createTcpServer, connect as tcpConnect } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';

const c = JSON.parse(process.argv[2]);
const tlsOpts = c.ciphers ? { ciphers: c.ciphers } : {};
const relay = c.relayModule ? await import(c.relayModule) : undefined;

function onConnection(inbound) {
  const fromOut = relay?.relayOnRead(inbound);
  const onread = fromOut ? { onread: fromOut } : {};
  const out = c.connect.tls
    ? tlsConnect({ host: c.connect.host, port: c.connect.port, ca: c.ca, servername: 'localhost', ...tlsOpts, ...onread })
    : tcpConnect({ host: c.connect.host, port: c.connect.port, ...onread });
  inbound.setNoDelay(true);
  out.setNoDelay(true);
  if (relay) relay.relayBothWays(inbound, out, fromOut);
  else {
    inbound.pipe(out);
    out.pipe(inbound);
    const close = () => { inbound.destroy(); out.destroy(); };
    inbound.on('error', close);
    out.on('error', close);
  }
  if (c.connect.tls) out.once('secureConnect', () => process.stderr.write(`relay-hop ${c.name}: ${out.getCipher().standardName}\n`));
}

const server = c.listenTls
  ? createTlsServer({ cert: c.cert, key: c.key, ...tlsOpts }, onConnection)
  : createTcpServer(onConnection);
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
