/**
 * Per-app log files under $SUPERVISOR_HOME/logs: <name>-out.log and <name>-err.log, shared by
 * the app's processes, appended as chunks arrive. Lines go to subscribers only when someone
 * follows the logs, so an unobserved app costs a file write per chunk and nothing more.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { EventBus } from './events.js';

export type StreamName = 'out' | 'err';

export interface LogSink {
  write(stream: StreamName, chunk: Buffer): void;
}

export class AppLogs {
  readonly outFile: string;
  readonly errFile: string;
  #out: WriteStream | null = null;
  #err: WriteStream | null = null;

  constructor(
    logDir: string,
    readonly app: string,
    private readonly bus: EventBus,
  ) {
    this.outFile = join(logDir, `${app}-out.log`);
    this.errFile = join(logDir, `${app}-err.log`);
  }

  /** A sink for one process of the app, which tags streamed lines with its id. */
  sinkFor(id: number): LogSink {
    return {
      write: (stream, chunk) => {
        this.#stream(stream).write(chunk);
        if (this.bus.wantsLogs) {
          for (const line of chunk.toString('utf8').split('\n')) {
            if (line.length > 0) this.bus.log({ app: this.app, id, stream, line });
          }
        }
      },
    };
  }

  /** Notes from the daemon itself (restarts, crash loops) go to the app's error log. */
  note(id: number, text: string): void {
    this.sinkFor(id).write('err', Buffer.from(`[supervisor] ${new Date().toISOString()} ${text}\n`));
  }

  async flush(): Promise<number> {
    let files = 0;
    for (const file of [this.outFile, this.errFile]) {
      try {
        await truncate(file, 0);
        files += 1;
      } catch {
        // Never written: nothing to empty.
      }
    }
    return files;
  }

  close(): void {
    this.#out?.end();
    this.#err?.end();
    this.#out = this.#err = null;
  }

  #stream(name: StreamName): WriteStream {
    if (name === 'out') return (this.#out ??= createWriteStream(this.outFile, { flags: 'a', mode: 0o600 }));
    return (this.#err ??= createWriteStream(this.errFile, { flags: 'a', mode: 0o600 }));
  }
}
