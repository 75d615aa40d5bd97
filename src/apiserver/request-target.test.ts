import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequestTarget } from './request-target.js';

test('request targets split as WHATWG URL parses them', () => {
  const targets = [
    '/api/v1/namespaces/default/pods', '/api/v1/namespaces/default/pods?limit=5&continue=abc%3D%3D',
    '/apis/rbac.authorization.k8s.io/v1/clusterroles?labelSelector=a%20in%20(b,c)&x=1+2',
    '/api/v1/namespaces/a/pods/./b', '/api/v1/namespaces/a/../b', '//evil/api/v1', '/api/v1//pods',
    '/api/v1/pods?fieldSelector=spec.nodeName=n1#frag', '/api/v1/p%2Fq', '/api/v1/a b?c d', '/api\\v1',
    '/api/v1/pods?x="y"&z=é', '', '/', '/api/v1/pods?', '/api/v1/pods?a&b=&=c', '/.well-known/openid-configuration',
    '/api/v1/%2e%2e/secrets', '/api/v1/namespaces/a/pods/b/exec?command=ls&command=-l&stdout=1',
  ];
  for (const t of targets) {
    const url = new URL(t || '/', 'https://localhost');
    const r = parseRequestTarget(t);
    assert.equal(r.path, url.pathname, t);
    assert.deepEqual([...r.query], [...url.searchParams], t);
  }
});
