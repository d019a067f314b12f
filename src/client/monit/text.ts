/**
 * Text for a terminal grid: display widths (wide CJK and emoji take two cells, combining marks
 * none), fitting to a width, stripping what would move the cursor (app output may carry ANSI
 * sequences and control characters), and sparklines.
 */

/** Cells a code point takes in a terminal. */
function charWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) width += charWidth(ch.codePointAt(0) as number);
  return width;
}

/** Cut to at most `width` cells (with "…" when cut), then pad with spaces to exactly `width`. */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return '';
  let used = 0;
  let out = '';
  const total = displayWidth(text);
  if (total <= width) {
    const pad = ' '.repeat(width - total);
    return align === 'left' ? text + pad : pad + text;
  }
  for (const ch of text) {
    const w = charWidth(ch.codePointAt(0) as number);
    if (used + w > width - 1) break;
    out += ch;
    used += w;
  }
  return `${out}…${' '.repeat(width - 1 - used)}`;
}

// CSI and OSC sequences, and the short escapes (ESC c, ESC ( B, ...): what a program's output
// may hold to colour text, move the cursor or reset the terminal, none of which may reach our
// screen.
const ESCAPES = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~])/g;

/** A line of app output made safe to print in one row: no escapes, no control characters. */
export function sanitize(line: string): string {
  return line
    .replace(ESCAPES, '')
    .replace(/\t/g, '  ')
    .replace(/[\x00-\x1f\x7f-\x9f]/g, '');
}

const BARS = '▁▂▃▄▅▆▇█';

/**
 * The last `width` values as bars scaled from 0 to `max` (default: the largest value shown),
 * right-aligned, so the newest sample is always at the right edge.
 */
export function sparkline(values: readonly number[], width: number, max?: number): string {
  if (width <= 0) return '';
  const shown = values.slice(-width);
  const top = Math.max(max ?? 0, ...shown, Number.MIN_VALUE);
  const bars = shown.map((v) => BARS[Math.min(BARS.length - 1, Math.max(0, Math.round((v / top) * (BARS.length - 1))))] as string).join('');
  return ' '.repeat(width - shown.length) + bars;
}
