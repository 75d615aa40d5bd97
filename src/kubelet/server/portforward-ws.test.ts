import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePortForwardPorts, choosePortForwardProtocol } from './portforward-ws.js';

test('channel port-forward: ports from `port` (repeatable, comma lists) with the kubelet\'s errors; subprotocol choice', () => {
  assert.deepEqual(parsePortForwardPorts(new URLSearchParams('port=80,8080&port=9090')), [80, 8080, 9090]);
  const msg = (q: string) => { try { parsePortForwardPorts(new URLSearchParams(q)); return ''; } catch (e) { return (e as Error).message; } };
  assert.equal(msg(''), 'query parameter "port" is required');
  assert.equal(msg('port='), 'query parameter "port" cannot be empty');
  assert.match(msg('port=80,x'), /^unable to parse "80,x" as a port: .*invalid syntax/);
  assert.match(msg('port=70000'), /value out of range/);
  assert.equal(msg('port=0'), 'port "0" must be > 0');
  assert.equal(choosePortForwardProtocol([]), '');
  assert.equal(choosePortForwardProtocol(['v4.base64.channel.k8s.io', 'v4.channel.k8s.io']), 'v4.channel.k8s.io');
  assert.equal(choosePortForwardProtocol(['v4.base64.channel.k8s.io']), 'v4.base64.channel.k8s.io');
  assert.equal(choosePortForwardProtocol(['v5.channel.k8s.io']), undefined);
});
