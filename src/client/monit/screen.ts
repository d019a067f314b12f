/**
 * The terminal as monit uses it: the alternate screen (the shell's screen comes back intact
 * on exit), no cursor, no line wrap, raw keys; and a redraw that rewrites only the lines that
 * changed since the last frame, inside a synchronized update where the terminal supports one,
 * so nothing flickers. Whatever ends monit, restore() puts the terminal back as it was; it is
 * synchronous so that it also works from an 'exit' handler.
 */
import { writeSync } from 'node:fs';

const ENTER = '\x1b[?1049h\x1b[?25l\x1b[?7l\x1b[2J';
const LEAVE = '\x1b[0m\x1b[?7h\x1b[?25h\x1b[?1049l';
const SYNC_BEGIN = '\x1b[?2026h';
const SYNC_END = '\x1b[?2026l';

/** The bytes that turn frame `previous` into frame `next` (all of it when previous is null). */
export function frameUpdate(previous: readonly string[] | null, next: readonly string[]): string {
  let out = previous === null ? '\x1b[H\x1b[2J' : '';
  for (let i = 0; i < next.length; i++) {
    if (previous !== null && previous[i] === next[i]) continue;
    out += `\x1b[${i + 1};1H${next[i]}`;
  }
  return out === '' ? '' : `${SYNC_BEGIN}${out}${SYNC_END}`;
}

export class Screen {
  #previous: string[] | null = null;
  #active = false;

  constructor(
    private readonly input: NodeJS.ReadStream,
    private readonly output: NodeJS.WriteStream,
  ) {}

  get cols(): number {
    return this.output.columns || 80;
  }

  get rows(): number {
    return this.output.rows || 24;
  }

  start(onKeys: (text: string) => void, onResize: () => void): void {
    this.#active = true;
    this.input.setRawMode(true);
    this.input.setEncoding('utf8');
    this.input.on('data', onKeys);
    this.input.resume();
    this.output.on('resize', () => {
      this.#previous = null;
      onResize();
    });
    this.#write(ENTER);
  }

  draw(frame: string[]): void {
    if (!this.#active) return;
    const update = frameUpdate(this.#previous, frame);
    this.#previous = frame;
    if (update) this.output.write(update);
  }

  /** Leaves the alternate screen and gives the keyboard back. Safe to call more than once. */
  restore(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#write(LEAVE);
    try {
      this.input.setRawMode(false);
    } catch {
      // The terminal is gone (SIGHUP): nothing to give back.
    }
    this.input.pause();
  }

  #write(text: string): void {
    try {
      writeSync((this.output as unknown as { fd: number }).fd, text);
    } catch {
      // The terminal is gone.
    }
  }
}
