/** Durations as users write them: milliseconds as a number, or "500ms", "5s", "2m", "1h". */

/** A day in milliseconds: the longest duration any setting takes. */
export const DAY_MS = 86_400_000;

/** Milliseconds from text such as "5000", "500ms", "1.5s", "2m", "1h"; null if it is not one. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text.trim());
  if (!match) return null;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * unit);
}
