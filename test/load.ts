/**
 * A bounded HTTP load for tests: `concurrency` loops sending requests until stopped or until
 * maxMs, counting successes and every kind of failure (status, reset, refused, timeout).
 */
import http from 'node:http';

export interface LoadResult {
  ok: number;
  failed: number;
  errors: string[];
}

export interface Load {
  stop(): Promise<LoadResult>;
  /** Resolves when at least n requests have succeeded. */
  reached(n: number): Promise<void>;
  /** Requests that have succeeded so far. */
  ok(): number;
}

export function startLoad(options: { port: number; keepAlive: boolean; concurrency?: number; maxMs?: number; path?: string }): Load {
  const concurrency = options.concurrency ?? 8;
  const agent = new http.Agent({ keepAlive: options.keepAlive, maxSockets: concurrency });
  const result: LoadResult = { ok: 0, failed: 0, errors: [] };
  let stopped = false;
  const deadline = Date.now() + (options.maxMs ?? 60_000);
  const waiters: { n: number; resolve: () => void }[] = [];

  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = http.get(
        {
          host: '127.0.0.1',
          port: options.port,
          path: options.path ?? '/',
          agent,
          timeout: 10_000,
          headers: options.keepAlive ? {} : { connection: 'close' },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) result.ok++;
            else {
              result.failed++;
              result.errors.push(`status ${res.statusCode}`);
            }
            for (const w of waiters.filter((w) => result.ok >= w.n)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve();
            }
            resolve();
          });
          res.on('error', (error) => {
            result.failed++;
            result.errors.push(error.message);
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (error) => {
        result.failed++;
        result.errors.push((error as NodeJS.ErrnoException).code ?? error.message);
        resolve();
      });
    });

  const loops = Array.from({ length: concurrency }, async () => {
    while (!stopped && Date.now() < deadline) await one();
  });

  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
      return result;
    },
    ok: () => result.ok,
    reached(n) {
      if (result.ok >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
  };
}
