// Money arrives as decimal strings ("0.015", "-0.91"). Sums are made in ten-thousandths of a
// dollar, as integers, never in binary floating point.

export function units(text) {
  const negative = String(text).startsWith('-');
  const [whole, fraction = ''] = String(text).replace('-', '').split('.');
  const n = Number(whole) * 10000 + Number(`${fraction}0000`.slice(0, 4));
  return negative ? -n : n;
}

// "$1.20", "$0.015": two decimals, more only for fractions of a cent.
export function dollars(amount) {
  const n = typeof amount === 'number' ? amount : units(amount);
  const size = Math.abs(n);
  let fraction = String(size % 10000).padStart(4, '0');
  while (fraction.length > 2 && fraction.endsWith('0')) fraction = fraction.slice(0, -1);
  return `${n < 0 ? '-' : ''}$${Math.floor(size / 10000)}.${fraction}`;
}
