/**
 * watch: file changes under the app's watched paths, merged into bursts. A burst ends when no
 * change came for `watch_delay`, or at the latest BURST_CAP times that after its first change
 * (a file rewritten without pause must not hold reloads off for ever); its end fires once.
 * chokidar (with picomatch for ignore_watch's globs) is loaded only when an app watches.
 */
import { requireCommonJs } from '../../shared/bundle.js';
import type { Clock, Timer } from '../clock.js';
import { ignoreMatcher, type IgnoreRules } from './ignore.js';

/** A burst lasts at most this many watch_delays. */
export const BURST_CAP = 5;

/** Merges changes into bursts on the lifecycle Clock; one timer at most. */
export class ChangeBursts {
  #timer: Timer | null = null;
  #firstAt: number | null = null;
  /** Changes seen, and when the last one was (for describe). */
  changes = 0;
  lastChangeAt: number | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly quietMs: number,
    private readonly fire: () => void,
  ) {}

  change(): void {
    const now = this.clock.now();
    this.changes += 1;
    this.lastChangeAt = now;
    this.#firstAt ??= now;
    if (this.#timer) this.clock.clearTimeout(this.#timer);
    const endAt = Math.min(now + this.quietMs, this.#firstAt + this.quietMs * BURST_CAP);
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = null;
      this.#firstAt = null;
      this.fire();
    }, endAt - now);
  }

  close(): void {
    if (this.#timer) this.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#firstAt = null;
  }
}

/** A running watcher: `ready` once its first scan is done. */
export interface Watcher {
  readonly ready: boolean;
  close(): Promise<void>;
}

export interface WatchOptions extends IgnoreRules {
  onChange(path: string): void;
  onError(error: Error): void;
}

interface Modules {
  watch: typeof import('chokidar').watch;
  picomatch: typeof import('picomatch');
}
let modules: Promise<Modules> | null = null;

async function load(): Promise<Modules> {
  const { watch } = await import('chokidar');
  // picomatch is CommonJS: require() gives it as it is.
  const picomatch = requireCommonJs('picomatch') as typeof import('picomatch');
  return { watch, picomatch };
}

/** Watches `roots` (absolute) with chokidar; changes to ignored paths never reach onChange. */
export async function openWatcher(options: WatchOptions): Promise<Watcher> {
  modules ??= load();
  const { watch, picomatch } = await modules;
  const ignored = ignoreMatcher(options, (glob) => picomatch(glob, { dot: true }));
  let ready = false;
  const watcher = watch([...options.roots], { ignored, ignoreInitial: true, persistent: true });
  watcher.on('all', (_event: string, path: string) => options.onChange(path));
  watcher.on('error', (error: unknown) => options.onError(error as Error));
  watcher.on('ready', () => (ready = true));
  return {
    get ready() {
      return ready;
    },
    close: () => watcher.close(),
  };
}
