/**
 * pm2's `log_date_format`: the format tokens of dayjs (which pm2 uses), compiled once into a
 * function. Shared because the client checks a format when it reads a config and the daemon
 * formats with it. Text in [brackets] is literal; characters that are not tokens are kept.
 */
import { pad } from './iso-time.js';

type Part = string | ((d: Date) => string);

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

function offset(d: Date, separator: string): string {
  const minutes = -d.getTimezoneOffset();
  const sign = minutes >= 0 ? '+' : '-';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}${separator}${pad(abs % 60)}`;
}

/** Longest tokens first, so that "YYYY" is not read as two "YY". */
const TOKENS: [string, (d: Date) => string][] = [
  ['YYYY', (d) => pad(d.getFullYear(), 4)],
  ['MMMM', (d) => MONTHS[d.getMonth()] as string],
  ['dddd', (d) => DAYS[d.getDay()] as string],
  ['MMM', (d) => (MONTHS[d.getMonth()] as string).slice(0, 3)],
  ['ddd', (d) => (DAYS[d.getDay()] as string).slice(0, 3)],
  ['SSS', (d) => pad(d.getMilliseconds(), 3)],
  ['YY', (d) => pad(d.getFullYear() % 100)],
  ['MM', (d) => pad(d.getMonth() + 1)],
  ['DD', (d) => pad(d.getDate())],
  ['dd', (d) => (DAYS[d.getDay()] as string).slice(0, 2)],
  ['HH', (d) => pad(d.getHours())],
  ['hh', (d) => pad(d.getHours() % 12 || 12)],
  ['mm', (d) => pad(d.getMinutes())],
  ['ss', (d) => pad(d.getSeconds())],
  ['ZZ', (d) => offset(d, '')],
  ['M', (d) => String(d.getMonth() + 1)],
  ['D', (d) => String(d.getDate())],
  ['d', (d) => String(d.getDay())],
  ['H', (d) => String(d.getHours())],
  ['h', (d) => String(d.getHours() % 12 || 12)],
  ['m', (d) => String(d.getMinutes())],
  ['s', (d) => String(d.getSeconds())],
  ['Z', (d) => offset(d, ':')],
  ['A', (d) => (d.getHours() < 12 ? 'AM' : 'PM')],
  ['a', (d) => (d.getHours() < 12 ? 'am' : 'pm')],
  ['X', (d) => String(Math.floor(d.getTime() / 1000))],
  ['x', (d) => String(d.getTime())],
];

/** The longest accepted format; a prefix on every line has no business being longer. */
export const MAX_DATE_FORMAT_LENGTH = 100;

/** What `time: true` (and `--time`) means, as in pm2: local time, to the second. */
export const TIME_DATE_FORMAT = 'YYYY-MM-DDTHH:mm:ss';

export type DateFormatter = (date: Date) => string;

/** Compiles a format; throws a plain Error naming the problem for an unclosed bracket. */
export function compileDateFormat(format: string): DateFormatter {
  if (format.length === 0 || format.length > MAX_DATE_FORMAT_LENGTH) throw new Error(`must be 1 to ${MAX_DATE_FORMAT_LENGTH} characters`);
  const parts: Part[] = [];
  let literal = '';
  let i = 0;
  outer: while (i < format.length) {
    if (format[i] === '[') {
      const end = format.indexOf(']', i);
      if (end < 0) throw new Error(`has an unclosed "[" at position ${i + 1}`);
      literal += format.slice(i + 1, end);
      i = end + 1;
      continue;
    }
    for (const [token, fn] of TOKENS) {
      if (format.startsWith(token, i)) {
        if (literal) parts.push(literal);
        literal = '';
        parts.push(fn);
        i += token.length;
        continue outer;
      }
    }
    literal += format[i];
    i += 1;
  }
  if (literal) parts.push(literal);
  return (date) => {
    let out = '';
    for (const part of parts) out += typeof part === 'string' ? part : part(date);
    return out;
  };
}

/**
 * A formatter that computes the text at most once per millisecond: a flood of lines arriving
 * in the same instant shares one prefix.
 */
export function cachedDateFormat(format: string): () => string {
  const fn = compileDateFormat(format);
  let lastMs = -1;
  let last = '';
  return () => {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      last = fn(new Date(now));
    }
    return last;
  };
}
