import { test } from 'node:test';
import assert from 'node:assert/strict';
import { progressNotifyIsOrdered } from './etcd-version.js';

test('progress notifications are trusted from etcd v3.4.25 / v3.5.8 on (etcd#15220)', () => {
  for (const v of ['3.4.23', '3.4.24', '3.5.0', '3.5.7', '3.3.27', '2.3.8', 'garbage', '']) assert.equal(progressNotifyIsOrdered(v), false, v);
  for (const v of ['3.4.25', '3.4.31', '3.5.8', '3.5.13', '3.6.0', '3.6.4', '4.0.0']) assert.equal(progressNotifyIsOrdered(v), true, v);
});
