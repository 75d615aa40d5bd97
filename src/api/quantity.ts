// resource.Quantity (k8s.io/apimachinery/pkg/api/resource): "100m", "1.5", "128Mi",
// "1G", "1e3". Parsed exactly (BigInt mantissa with base-10 and base-2 exponents)
// so that "0.1" + "0.2" cpu compare as upstream does; converted to JS numbers only at
// the end, rounding up as Quantity.Value() / MilliValue() do.

/** Upstream's error text for a malformed quantity. */
export const QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

export interface Quantity {
  /** value = mantissa * 10^exp10 * 2^exp2 */
  mantissa: bigint;
  exp10: number;
  exp2: number;
  format: QuantityFormat;
}

const binarySuffixes: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const decimalSuffixes: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const numberRe = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$/;

/** Parse a quantity string (or a JSON number). Throws Error(QUANTITY_FORMAT_ERROR) when malformed. */
export function parseQuantity(input: string | number): Quantity {
  const s = typeof input === 'number' ? numberToString(input) : input.trim();
  const m = numberRe.exec(s);
  if (!s || !m) throw new Error(QUANTITY_FORMAT_ERROR);
  const [, sign, intPart = '', fracPart = '', suffix = ''] = m;
  if (intPart === '' && fracPart === '') throw new Error(QUANTITY_FORMAT_ERROR);
  let mantissa = BigInt((intPart || '0') + fracPart);
  if (sign === '-') mantissa = -mantissa;
  let exp10 = -fracPart.length;
  let exp2 = 0;
  let format: QuantityFormat;
  if (suffix in binarySuffixes) {
    exp2 = binarySuffixes[suffix]!;
    format = 'BinarySI';
  } else if (suffix in decimalSuffixes) {
    exp10 += decimalSuffixes[suffix]!;
    format = 'DecimalSI';
  } else if (/^[eE][+-]?[0-9]+$/.test(suffix)) {
    exp10 += Number(suffix.slice(1));
    format = 'DecimalExponent';
  } else {
    throw new Error(QUANTITY_FORMAT_ERROR);
  }
  return { mantissa, exp10, exp2, format };
}

function numberToString(n: number): string {
  if (!Number.isFinite(n)) throw new Error(QUANTITY_FORMAT_ERROR);
  // Exponent notation from toString ("1e+21") is a valid DecimalExponent.
  return String(n).replace('e+', 'e');
}

/** The quantity times 10^scale, rounded up (away from zero), as a JS number. */
function scaledCeil(q: Quantity, scale: number): number {
  let num = q.mantissa;
  let den = 1n;
  const e10 = q.exp10 + scale;
  if (e10 >= 0) num *= 10n ** BigInt(e10);
  else den *= 10n ** BigInt(-e10);
  if (q.exp2 >= 0) num *= 1n << BigInt(q.exp2);
  else den *= 1n << BigInt(-q.exp2);
  let r = num / den;
  if (num % den !== 0n) r += num > 0n ? 1n : -1n;
  return Number(r);
}

/** Value() upstream: whole units rounded up (bytes for memory, count for pods). */
export function quantityValue(q: Quantity | string | number): number {
  return scaledCeil(typeof q === 'object' ? q : parseQuantity(q), 0);
}

/** MilliValue() upstream: thousandths rounded up (millicores for cpu). */
export function quantityMilliValue(q: Quantity | string | number): number {
  return scaledCeil(typeof q === 'object' ? q : parseQuantity(q), 3);
}

export function isValidQuantity(s: string | number): boolean {
  try {
    parseQuantity(s);
    return true;
  } catch {
    return false;
  }
}

/** Compare two quantities exactly: negative, zero or positive. */
export function compareQuantities(a: Quantity | string, b: Quantity | string): number {
  const qa = typeof a === 'string' ? parseQuantity(a) : a;
  const qb = typeof b === 'string' ? parseQuantity(b) : b;
  // Bring both to a common integer scale: multiply by 10^-minExp10 and 2^-minExp2.
  const e10 = Math.min(qa.exp10, qb.exp10);
  const e2 = Math.min(qa.exp2, qb.exp2);
  const norm = (q: Quantity) => q.mantissa * 10n ** BigInt(q.exp10 - e10) * (1n << BigInt(q.exp2 - e2));
  const d = norm(qa) - norm(qb);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/** Millicores as kubectl prints cpu: "250m", or "2" when whole. */
export function formatMilliCPU(milli: number): string {
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** Bytes in the largest binary suffix that divides them exactly ("128Mi"), else plain. */
export function formatBytes(bytes: number): string {
  for (const [suffix, shift] of Object.entries(binarySuffixes).reverse()) {
    const unit = 2 ** shift;
    if (bytes !== 0 && bytes % unit === 0) return `${bytes / unit}${suffix}`;
  }
  return String(bytes);
}
