// A worker of seed 000, done with supervisor-node/process: it asks the master for work in a
// loop. When the master dies mid-request the request fails at once with TARGET_GONE (the
// daemon saw the exit); the next request simply waits until a master serves again, so the
// worker neither exits nor polls. Set INTERVAL_MS to change the pace (default 100).
import { request, self } from 'supervisor-node/process';

const intervalMs = Number(process.env.INTERVAL_MS ?? 100);
let n = 0;

async function loop() {
  for (;;) {
    n += 1;
    try {
      await request('master', { type: 'job', n }, { timeout: 15_000 });
    } catch (error) {
      // One line per failure, with the time, so the example's test can see when it happened.
      console.log(JSON.stringify({ worker: self.id, pid: process.pid, code: error.code, message: error.message, at: Date.now() }));
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

loop();
