import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeTxn, RPC } from './etcd-rpc.js';

test('encodeTxn gives the bytes of protobufjs fromObject + encode', () => {
  const k = Buffer.from('/registry/pods/ns/p');
  const reqs = [
    { compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }], success: [{ request_put: { key: k, value: Buffer.from('{"a":1}'), lease: undefined } }], failure: [{ request_range: { key: k } }] },
    { compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: 123456789 }], success: [{ request_put: { key: k, value: Buffer.from('x'), lease: '7587882339126123456', prev_kv: true } }], failure: [{ request_range: { key: k } }] },
    { compare: [{ key: k, target: 'Version', result: 'Greater', version: 0 }], success: [{ request_delete_range: { key: k, prev_kv: true } }], failure: [{ request_range: { key: k } }] },
    { success: [{ request_range: { key: k, range_end: Buffer.from('/registry/pods0'), limit: 500, revision: 42 } }] },
  ];
  for (const r of reqs) assert.deepEqual(encodeTxn(r as never), RPC.txn.serialize(r as never), JSON.stringify(r));
});
