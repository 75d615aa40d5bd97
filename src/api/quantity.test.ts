import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuantity, quantityValue, quantityMilliValue, isValidQuantity, compareQuantities, formatMilliCPU, formatBytes } from './quantity.js';

test('milli values of cpu quantities', () => {
  assert.equal(quantityMilliValue('100m'), 100);
  assert.equal(quantityMilliValue('1.5'), 1500);
  assert.equal(quantityMilliValue('2'), 2000);
  assert.equal(quantityMilliValue(2), 2000);
  assert.equal(quantityMilliValue(0.25), 250);
  assert.equal(quantityMilliValue('0.0001'), 1); // rounded up, as MilliValue()
  assert.equal(quantityMilliValue('1e3'), 1_000_000);
  assert.equal(quantityMilliValue('1.5e-3'), 2);
  assert.equal(quantityMilliValue('500u'), 1);
  assert.equal(quantityMilliValue('-100m'), -100);
});

test('byte values of memory quantities', () => {
  assert.equal(quantityValue('128Mi'), 128 * 1024 * 1024);
  assert.equal(quantityValue('1G'), 1e9);
  assert.equal(quantityValue('1.5Gi'), 1.5 * 2 ** 30);
  assert.equal(quantityValue('256Gi'), 256 * 2 ** 30);
  assert.equal(quantityValue('1k'), 1000);
  assert.equal(quantityValue('1Ki'), 1024);
  assert.equal(quantityValue('1E'), 1e18);
  assert.equal(quantityValue('12e6'), 12e6);
  assert.equal(quantityValue('100m'), 1); // Value() rounds up
  assert.equal(quantityValue('110'), 110);
  assert.equal(quantityValue(' 5 '), 5);
});

test('malformed quantities are rejected with upstream message', () => {
  for (const bad of ['', '.', '1.5.5', 'abc', '1ki', '1 Mi', '1e', 'Mi', '--1', '1Mii']) {
    assert.equal(isValidQuantity(bad), false, bad);
  }
  assert.throws(() => parseQuantity('x'), /quantities must match the regular expression/);
  assert.ok(isValidQuantity('.5'));
  assert.ok(isValidQuantity('5.'));
  assert.ok(isValidQuantity('+1'));
});

test('formats', () => {
  assert.equal(parseQuantity('1Gi').format, 'BinarySI');
  assert.equal(parseQuantity('1G').format, 'DecimalSI');
  assert.equal(parseQuantity('1e9').format, 'DecimalExponent');
});

test('exact comparison', () => {
  assert.equal(compareQuantities('1Ki', '1024'), 0);
  assert.equal(compareQuantities('0.1', '100m'), 0);
  assert.equal(compareQuantities('1G', '1Gi'), -1);
  assert.equal(compareQuantities('2', '1999m'), 1);
});

test('printing helpers', () => {
  assert.equal(formatMilliCPU(2000), '2');
  assert.equal(formatMilliCPU(250), '250m');
  assert.equal(formatBytes(128 * 2 ** 20), '128Mi');
  assert.equal(formatBytes(1000), '1000');
});
