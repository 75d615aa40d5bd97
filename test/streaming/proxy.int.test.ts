// pods/proxy and services/proxy: kubectl's raw requests through the API server to a pod's
// HTTP server (a shell behind `nc` that answers with the request line it got), directly
// and through a service's endpoints; upstream's errors and authorization.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStreamingEnv, skip, type StreamEnv } from './env.js';

let h: StreamEnv;
before(async () => { if (!skip) h = await startStreamingEnv(); });
after(async () => { await h?.stop(); });

// Reads the request line and headers, answers with the request line in the body.
const ECHO_HTTP = `CR=$(printf '\\r'); read -r line; while read -r l; do [ "\${l%$CR}" = "" ] && break; done; `
  + `printf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\nX-Echo: yes\\r\\n\\r\\n%s\\n' "\${line%$CR}"`;

const raw = async (path: string, extra: string[] = []) => h.kubectl(['get', '--raw', path, ...extra]);

test('pods/proxy and services/proxy reach the pod over HTTP (path, query, method, port choice)', { skip }, async () => {
  await h.runPod('web', [{ name: 'http', command: ['nc', '-ll', '-p', '8080', '-e', 'sh', '-c', ECHO_HTTP], ports: [{ containerPort: 8080 }] }]);
  const base = '/api/v1/namespaces/default';
  let r = await raw(`${base}/pods/web:8080/proxy/some/path?x=1&y=two`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'GET /some/path?x=1&y=two HTTP/1.1');
  // No port: the first declared container port, as upstream.
  r = await raw(`${base}/pods/web/proxy/`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'GET / HTTP/1.1');
  // `.../proxy` without the slash: redirected to `.../proxy/` (kubectl follows it).
  r = await raw(`${base}/pods/http:web:8080/proxy`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'GET / HTTP/1.1');
  r = await h.kubectl(['create', '--raw', `${base}/pods/web:8080/proxy/submit`, '-f', '-'], { input: '' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'POST /submit HTTP/1.1');

  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } };
  r = await h.kubectl(['create', '-f', '-'], { input: JSON.stringify(svc) });
  assert.equal(r.code, 0, r.stderr);
  // The endpoints controller fills the endpoints in shortly.
  for (let i = 0; ; i++) {
    r = await raw(`${base}/services/web/proxy/svc?a=b`);
    if (r.code === 0 || i > 50) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'GET /svc?a=b HTTP/1.1');
  // By port number: the service port of that number.
  r = await raw(`${base}/services/web:80/proxy/n`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'GET /n HTTP/1.1');
});

test('pods/proxy and services/proxy errors and authorization, as upstream', { skip }, async () => {
  const base = '/api/v1/namespaces/default';
  let r = await raw(`${base}/pods/nosuch:80/proxy/`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /pods "nosuch" not found/);
  r = await raw(`${base}/pods/a:b:c:d/proxy/`);
  assert.match(r.stderr, /invalid pod request "a:b:c:d"/);
  r = await raw(`${base}/services/web:81/proxy/`);
  assert.match(r.stderr, /no service port 81 found for service "web"/);
  r = await raw(`${base}/services/web:nosuchport/proxy/`);
  assert.match(r.stderr, /no endpoints available for service "web:nosuchport"/);
  // Nothing listens on 9999 in the pod: a 503 that says so.
  r = await raw(`${base}/pods/web:9999/proxy/`);
  assert.match(r.stderr, /ServiceUnavailable|error trying to reach service/);
  // Authorization: the verb of the method on pods/proxy, the name segment as it is.
  r = await raw(`${base}/pods/web:8080/proxy/`, ['--as', 'nobody']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /pods "web:8080" is forbidden: User "nobody" cannot get resource "pods\/proxy" in API group "" in the namespace "default"/);
  r = await raw(`${base}/services/web/proxy/`, ['--as', 'nobody']);
  assert.match(r.stderr, /services "web" is forbidden: User "nobody" cannot get resource "services\/proxy"/);
});
