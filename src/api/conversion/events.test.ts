import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toEventsV1, toCoreEvent } from './events.js';

const core = {
  apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'default' },
  involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' }, reason: 'Started', message: 'Started container',
  source: { component: 'kubelet', host: 'n1' }, firstTimestamp: '2025-01-01T00:00:00Z', lastTimestamp: '2025-01-01T00:01:00Z',
  count: 3, type: 'Normal', eventTime: null, reportingComponent: 'kubelet', reportingInstance: 'n1', action: 'Start',
  series: { count: 3, lastObservedTime: '2025-01-01T00:01:00.000000Z' }, related: { kind: 'Node', name: 'n1' },
};

test('core/v1 -> events.k8s.io/v1 maps every field as upstream', () => {
  assert.deepEqual(toEventsV1(core), {
    apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'e', namespace: 'default' },
    regarding: { kind: 'Pod', name: 'p', namespace: 'default' }, reason: 'Started', note: 'Started container',
    deprecatedSource: { component: 'kubelet', host: 'n1' }, deprecatedFirstTimestamp: '2025-01-01T00:00:00Z', deprecatedLastTimestamp: '2025-01-01T00:01:00Z',
    deprecatedCount: 3, type: 'Normal', eventTime: null, reportingController: 'kubelet', reportingInstance: 'n1', action: 'Start',
    series: { count: 3, lastObservedTime: '2025-01-01T00:01:00.000000Z' }, related: { kind: 'Node', name: 'n1' },
  });
});

test('round trips both ways; already-converted objects pass through', () => {
  assert.deepEqual(toCoreEvent(toEventsV1(core)), core);
  const ev = toEventsV1(core);
  assert.equal(toEventsV1(ev), ev);
  assert.equal(toCoreEvent(core), core);
});
