// Key-range helpers shared by both backends, so that "prefix" means the same bytes
// on SQLite (BINARY collation = memcmp of UTF-8) and on etcd (byte-wise keys).

/**
 * The smallest key greater than every key that starts with `prefix`, or undefined when
 * there is none (empty prefix or a prefix made only of U+10FFFF).
 *
 * Incrementing the last UTF-16 code unit is only byte-order-correct for ASCII, which all
 * Kubernetes keys are; for anything else we fall back to "no upper bound" plus an explicit
 * startsWith filter (see `needsPrefixFilter`).
 */
export function prefixEnd(prefix: string): string | undefined {
  if (prefix === '') return undefined;
  const last = prefix.charCodeAt(prefix.length - 1);
  if (last < 0x7f) return prefix.slice(0, -1) + String.fromCharCode(last + 1);
  return undefined;
}

/** True when `prefixEnd` could not express the bound, so callers must filter by startsWith. */
export function needsPrefixFilter(prefix: string): boolean {
  return prefix !== '' && prefixEnd(prefix) === undefined;
}

/** Byte-wise prefix end for etcd (range_end); an all-0xff prefix means "to the end" (\0). */
export function prefixEndBytes(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
