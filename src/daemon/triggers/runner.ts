/**
 * What a trigger (a cron tick, a settled burst of file changes) does when it fires: one action
 * at a time. A request while the action runs is either dropped (a cron tick: the next one
 * comes anyway) or remembered, once, to run when it ends (file changes: the last change must
 * end up live). So a trigger holds at most one running and one pending action, however often
 * it fires.
 */
type WhileBusy = 'drop' | 'coalesce';

export class TriggerRunner {
  #running = false;
  #pending = false;
  #closed = false;

  constructor(
    private readonly action: () => Promise<void>,
    private readonly whileBusy: WhileBusy,
  ) {}

  get running(): boolean {
    return this.#running;
  }

  /** What became of the request: run now, kept for later, or dropped. */
  request(): 'run' | 'pending' | 'dropped' {
    if (this.#closed) return 'dropped';
    if (!this.#running) {
      void this.#run();
      return 'run';
    }
    if (this.whileBusy === 'drop' || this.#pending) return 'dropped';
    this.#pending = true;
    return 'pending';
  }

  /** No further action starts; the one running finishes (it goes through the app's queue). */
  close(): void {
    this.#closed = true;
    this.#pending = false;
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      await this.action();
    } catch {
      // The action reports its own failures; a trigger must keep working after one.
    } finally {
      this.#running = false;
      if (this.#pending && !this.#closed) {
        this.#pending = false;
        void this.#run();
      }
    }
  }
}
