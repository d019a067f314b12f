/**
 * "Did you mean": the known key closest to a mistyped one, if it is close enough to be a typo
 * rather than an option of some other tool. Close means the same letters once case, `_` and `-`
 * are ignored (`minUptime`, `MIN-UPTIME`), or an edit distance of 1 for short keys and 2 for
 * keys of 6 letters or more (`instance`, `max_restart`, `kill_timout`).
 */
export function closestKey(key: string, known: Iterable<string>): string | null {
  const plain = (s: string): string => s.toLowerCase().replace(/[_-]/g, '');
  const limit = key.length >= 6 ? 2 : 1;
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    if (plain(candidate) === plain(key)) return candidate;
    const distance = editDistance(key.toLowerCase(), candidate);
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min((d[i - 1] as number[])[j]! + 1, (d[i] as number[])[j - 1]! + 1, (d[i - 1] as number[])[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, (d[i - 2] as number[])[j - 2]! + 1);
      (d[i] as number[])[j] = value;
    }
  }
  return (d[rows - 1] as number[])[cols - 1]!;
}
