/**
 * One stream (stdout or stderr) of one process, cut into whole lines. A pipe delivers chunks
 * that end anywhere, so the end of a chunk after its last newline waits here for the rest of
 * its line; only whole lines go on, which is what keeps the lines of two processes sharing a
 * file from being cut into each other. The wait is bounded: past MAX_PARTIAL bytes, or
 * PARTIAL_WAIT_MS without its newline, the piece goes on with PARTIAL_MARKER at its end.
 */
export const MAX_PARTIAL = 64 * 1024;
export const PARTIAL_WAIT_MS = 1000;
/** Ends a piece of a line that was written before its end arrived (the rest follows as its own line). */
export const PARTIAL_MARKER = ' [partial line]\n';
const MARKER = Buffer.from(PARTIAL_MARKER);
const NEWLINE = Buffer.from('\n');

export class LineSource {
  /** The pieces of the line that waits for its end (kept apart: joined once, when it ends). */
  #pieces: Buffer[] = [];
  #waiting = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: number,
    readonly instance: number,
    readonly stream: 'out' | 'err',
    /** Called with a piece of a line that waited too long for its end. */
    private readonly onOverdue: (source: LineSource, piece: Buffer) => void,
  ) {}

  /** The whole lines this chunk completes (with what waited before it), or null. */
  take(chunk: Buffer): Buffer | null {
    const last = chunk.lastIndexOf(10);
    if (last < 0) {
      // A copy: a slice would keep the whole chunk's memory alive while it waits.
      this.#keep(Buffer.from(chunk));
      if (this.#waiting < MAX_PARTIAL) return null;
      return this.#release(MARKER);
    }
    const whole = last === chunk.length - 1 ? chunk : chunk.subarray(0, last + 1);
    const lines = this.#waiting > 0 ? Buffer.concat([...this.#take(), whole]) : whole;
    if (last < chunk.length - 1) this.#keep(Buffer.from(chunk.subarray(last + 1)));
    return lines;
  }

  /** The stream ended: a last line without its newline is complete, so it gets one. */
  end(): Buffer | null {
    this.#clearTimer();
    return this.#waiting > 0 ? this.#release(NEWLINE) : null;
  }

  #keep(piece: Buffer): void {
    this.#pieces.push(piece);
    this.#waiting += piece.length;
    if (this.#timer) this.#timer.refresh();
    else {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        if (this.#waiting > 0) this.onOverdue(this, this.#release(MARKER));
      }, PARTIAL_WAIT_MS);
      this.#timer.unref();
    }
  }

  #take(): Buffer[] {
    const pieces = this.#pieces;
    this.#pieces = [];
    this.#waiting = 0;
    return pieces;
  }

  #release(ending: Buffer): Buffer {
    return Buffer.concat([...this.#take(), ending]);
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
