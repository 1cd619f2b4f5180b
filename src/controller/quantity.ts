// Kubernetes resource quantities compared by value, so the server's canonical form ("1.5Gi" -> "1536Mi",
// "0.5" -> "500m", 1 -> "1") never looks like drift and never causes a re-apply.

const BINARY: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const QUANTITY = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;

/** An exact rational value: numerator / 10^scale. */
interface Exact {
  num: bigint;
  scale: number;
}

export function parseQuantity(q: string | number): Exact | undefined {
  const m = QUANTITY.exec(String(q).trim());
  if (!m) return undefined;
  const [, sign, digits, suffix = ''] = m as unknown as [string, string, string, string | undefined];
  const [int, frac = ''] = digits!.split('.');
  let num = BigInt(`${int || '0'}${frac}`) * (sign === '-' ? -1n : 1n);
  let scale = frac.length;
  if (suffix in BINARY) num *= BINARY[suffix]!;
  else {
    const exp = suffix.startsWith('e') || suffix.startsWith('E') ? Number(suffix.slice(1)) : DECIMAL[suffix]!;
    if (exp >= 0) num *= 10n ** BigInt(exp);
    else scale -= exp;
  }
  return { num, scale };
}

/** True when both are quantities of the same value (false when either is not a quantity). */
export function sameQuantity(a: string | number, b: string | number): boolean {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  if (!x || !y) return false;
  const s = Math.max(x.scale, y.scale);
  return x.num * 10n ** BigInt(s - x.scale) === y.num * 10n ** BigInt(s - y.scale);
}
