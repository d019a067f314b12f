/**
 * The bound on what one end of a process's IPC channel has written and the channel has not
 * flushed yet (MESSAGE_LIMITS.maxQueuedMessages and maxQueuedChars, docs/MESSAGES.md). Both
 * ends keep one: the runtime in every app process for what it sends the daemon, the daemon's
 * router for what it sends each process. Only the counting lives here; each end knows when
 * its writes complete. Imported by the runtime, so it imports nothing but the limits.
 */
import { MESSAGE_LIMITS } from './messages.js';

export class OutboundQueue {
  #messages = 0;
  #chars = 0;

  /** Messages written and not yet flushed. */
  get messages(): number {
    return this.#messages;
  }

  /** Their characters (of JSON text). */
  get chars(): number {
    return this.#chars;
  }

  /** Whether one more message of `chars` characters fits under the bound. */
  hasRoom(chars: number): boolean {
    return this.#messages < MESSAGE_LIMITS.maxQueuedMessages && this.#chars + chars <= MESSAGE_LIMITS.maxQueuedChars;
  }

  /** A message of `chars` characters was handed to the channel. */
  add(chars: number): void {
    this.#messages += 1;
    this.#chars += chars;
  }

  /** A message of `chars` characters left the queue: flushed, or refused by the channel. */
  remove(chars: number): void {
    this.#messages -= 1;
    this.#chars -= chars;
  }
}
