/**
 * `new Date(ms).toISOString()`, written with the UTC getters. On Node 20 (V8 11),
 * toISOString looks up the local time zone and its display name through ICU the first time it
 * runs, which maps about 0.8 MiB of ICU data into the process for good: the daemon stamps its
 * log lines and its notes in app logs with it, and would carry that for nothing
 * (bench/RESULTS.md). The text is the same for every date; years outside 0-9999 (expanded
 * years, and the RangeError of an invalid date) take the built-in path.
 */
export function isoTime(ms: number = Date.now()): string {
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return date.toISOString();
  return (
    `${pad(year, 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.${pad(date.getUTCMilliseconds(), 3)}Z`
  );
}

/** `n` in `width` digits, zeros in front (also for log-date-format and rotated-log-files). */
export function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}
