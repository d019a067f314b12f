/**
 * Measuring a daemon's control socket under faults: its resident memory over time, and how
 * fast it answers `list` on a connection of its own (lib.ts has the rest: rssOf, report).
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../../src/shared/protocol.js';
import { percentile, rssOf } from './lib.js';

/** The highest resident memory a process has had since it started (VmHWM), in bytes. */
export function peakRssOf(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

export const MB = 1024 * 1024;

/** Samples a process's RSS every `everyMs` until stopped; keeps the peak and the series. */
export class RssSampler {
  readonly samples: { at: number; rss: number }[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(pid: number, everyMs = 200) {
    const started = Date.now();
    const sample = (): void => {
      const rss = rssOf(pid);
      if (rss > 0) this.samples.push({ at: Date.now() - started, rss });
    };
    sample();
    this.#timer = setInterval(sample, everyMs);
  }

  get peak(): number {
    return Math.max(...this.samples.map((s) => s.rss));
  }

  get last(): number {
    return this.samples[this.samples.length - 1]?.rss ?? 0;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

type Frame = Record<string, unknown> & { id?: number; event?: string; data?: Record<string, unknown> };

/** A `ws` connection to the daemon that has said hello. */
export class DaemonClient {
  #nextId = 1;
  readonly #waiting = new Map<number, (frame: Frame) => void>();
  readonly events: Frame[] = [];
  closed: { code: number; reason: string } | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (typeof frame.id === 'number' && this.#waiting.has(frame.id)) {
        this.#waiting.get(frame.id)?.(frame);
        this.#waiting.delete(frame.id);
      } else if (frame.event) {
        if (frame.event !== 'log') this.events.push(frame);
      }
    });
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
    ws.on('error', () => undefined);
  }

  static async open(socketPath: string): Promise<DaemonClient> {
    const ws = new WebSocket(`ws+unix://${socketPath}:/`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const client = new DaemonClient(ws);
    await client.request('hello', { protocol: PROTOCOL_VERSION });
    return client;
  }

  request(method: string, params: unknown = {}, timeoutMs = 30_000): Promise<Frame> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${method} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.set(id, (frame) => {
        clearTimeout(timer);
        if (frame['error']) reject(new Error(JSON.stringify(frame['error'])));
        else resolve(frame);
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Milliseconds for one `list` round trip. */
  async timeList(): Promise<number> {
    const started = performance.now();
    await this.request('list');
    return performance.now() - started;
  }

  /** Stops reading: what the daemon sends piles up in the kernel's buffers, then in the daemon. */
  stopReading(): void {
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  resumeReading(): void {
    (this.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Times `list` every `everyMs` on its own connection until stopped. */
export class ListProber {
  readonly latencies: number[] = [];
  readonly failures: string[] = [];
  #running = true;
  readonly #done: Promise<void>;

  constructor(client: DaemonClient, everyMs = 250) {
    this.#done = (async () => {
      while (this.#running) {
        try {
          this.latencies.push(await client.timeList());
        } catch (error) {
          this.failures.push((error as Error).message);
        }
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }

  summary(): { count: number; medianMs: number; p95Ms: number; maxMs: number } {
    const at = (p: number): number => Math.round(percentile(this.latencies, p) * 10) / 10;
    return { count: this.latencies.length, medianMs: at(50), p95Ms: at(95), maxMs: at(100) };
  }
}

export function mb(bytes: number): number {
  return Math.round((bytes / MB) * 10) / 10;
}
