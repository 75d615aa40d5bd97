import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResourceProxyPath, splitSchemeNamePort } from './resource-proxy.js';

test('splitSchemeNamePort: name, name:port, scheme:name:port; bad schemes and shapes refused', () => {
  assert.deepEqual(splitSchemeNamePort('web'), { scheme: '', name: 'web', port: '' });
  assert.deepEqual(splitSchemeNamePort('web:8080'), { scheme: '', name: 'web', port: '8080' });
  assert.deepEqual(splitSchemeNamePort('https:web:443'), { scheme: 'https', name: 'web', port: '443' });
  assert.deepEqual(splitSchemeNamePort('http:web:'), { scheme: 'http', name: 'web', port: '' });
  assert.equal(splitSchemeNamePort('ftp:web:21'), undefined);
  assert.equal(splitSchemeNamePort(':80'), undefined);
  assert.equal(splitSchemeNamePort('a:b:c:d'), undefined);
});

test('parseResourceProxyPath: pods and services, with and without a path after /proxy', () => {
  assert.deepEqual(parseResourceProxyPath('/api/v1/namespaces/ns/pods/web:80/proxy/a/b/'), { kind: 'pod', ns: 'ns', id: 'web:80', rest: '/a/b/' });
  assert.deepEqual(parseResourceProxyPath('/api/v1/namespaces/ns/services/web/proxy'), { kind: 'service', ns: 'ns', id: 'web', rest: '' });
  assert.equal(parseResourceProxyPath('/api/v1/namespaces/ns/pods/web/log'), undefined);
  assert.equal(parseResourceProxyPath('/api/v1/nodes/n/proxy/x'), undefined);
});
