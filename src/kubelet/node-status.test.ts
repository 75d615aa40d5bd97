import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeStatus, type HostInfo } from './node-status.js';

const host: HostInfo = {
  cpu: 2, memoryBytes: 8 << 30, storageBytes: 100 << 30, kernel: '6.1.0', osImage: 'Debian GNU/Linux 12 (bookworm)', arch: 'amd64',
  machineID: 'm', systemUUID: 'u', bootID: 'b', runcVersion: '1.1.12', hostname: 'n1',
};

test('nodeInfo: kubeProxyVersion still set, to the kubelet\'s version, as a 1.32 kubelet does', () => {
  // KEP-4004: the kubelet leaves it empty only with the DisableNodeKubeProxyVersion gate,
  // which is off by default in 1.31.1+ and 1.32 (deprecated; its default turns on in 1.33).
  const s = nodeStatus({ nodeName: 'n1', dataDir: '/tmp', nodeIP: '10.0.0.1' }, host, { memory: false, disk: false, pid: false }, { ready: true }, undefined, Date.now());
  assert.match(s.nodeInfo!.kubeletVersion, /^v1\.32\./);
  assert.equal(s.nodeInfo!.kubeProxyVersion, s.nodeInfo!.kubeletVersion);
  assert.equal(s.nodeInfo!.containerRuntimeVersion, 'runc://1.1.12');
});
