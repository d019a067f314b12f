/**
 * Keeps the worker's event loop alive while it has servers listening through the daemon, as
 * a real listening socket would. A timer that never fires costs nothing; the IPC channel
 * itself cannot be used because referencing it changes how apps with 'message' listeners exit.
 */
let holders = 0;
let timer: NodeJS.Timeout | null = null;

export function hold(): void {
  holders += 1;
  if (timer === null) timer = setInterval(() => undefined, 2 ** 31 - 1);
}

export function release(): void {
  holders = Math.max(0, holders - 1);
  if (holders === 0 && timer !== null) {
    clearInterval(timer);
    timer = null;
  }
}
