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
  #partial: Buffer | null = null;
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
      const partial = this.#partial ? Buffer.concat([this.#partial, chunk]) : Buffer.from(chunk);
      if (partial.length >= MAX_PARTIAL) {
        this.#partial = null;
        return Buffer.concat([partial, MARKER]);
      }
      this.#keep(partial);
      return null;
    }
    let whole = last === chunk.length - 1 ? chunk : chunk.subarray(0, last + 1);
    if (this.#partial) whole = Buffer.concat([this.#partial, whole]);
    // A copy: a slice would keep the whole chunk's memory alive while it waits.
    if (last < chunk.length - 1) this.#keep(Buffer.from(chunk.subarray(last + 1)));
    else this.#partial = null;
    return whole;
  }

  /** The stream ended: a last line without its newline is complete, so it gets one. */
  end(): Buffer | null {
    this.#clearTimer();
    const partial = this.#partial;
    this.#partial = null;
    return partial ? Buffer.concat([partial, NEWLINE]) : null;
  }

  #keep(partial: Buffer): void {
    this.#partial = partial;
    if (this.#timer) this.#timer.refresh();
    else {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        const piece = this.#partial;
        this.#partial = null;
        if (piece) this.onOverdue(this, Buffer.concat([piece, MARKER]));
      }, PARTIAL_WAIT_MS);
      this.#timer.unref();
    }
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
