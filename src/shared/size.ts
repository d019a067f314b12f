/** Sizes as users write them: bytes as a number, or "512K", "300M", "1G". */

/** Bytes from an integer or a string such as "10M", "512K", "1G" (binary units, any case, optional B); null if it is not one. */
export function parseSize(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const match = /^(\d+(?:\.\d+)?)\s*([KMG])?B?$/i.exec(value.trim());
  if (!match) return null;
  const unit = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(match[2] ?? '').toUpperCase() as 'K' | 'M' | 'G'] ?? 1;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : null;
}
