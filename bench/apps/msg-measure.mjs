// The measurement both messaging contenders run in their process A, against process B, over a
// transport: Supervisor's supervisor-node/process, or a raw process.send relay through a Node
// cluster primary. Same workload, same flow control; only the transport differs.
//
//   transport.request(data) -> Promise<answer>   a round trip A -> B -> A
//   transport.send(data)                         one way A -> B; B grants A a credit every WINDOW messages
//   transport.onCredit(fn)                       called for each credit
import { writeFileSync } from 'node:fs';

const WARMUP = 2000;
const LATENCY_N = Number(process.env.LATENCY_N ?? 10000);
const CONCURRENT_N = Number(process.env.CONCURRENT_N ?? 40000);
const CONCURRENCY = 32;
const ONE_WAY_N = Number(process.env.ONE_WAY_N ?? 100000);
export const WINDOW = 200;
const PAD = 'x'.repeat(Number(process.env.PAYLOAD_PAD ?? 0));

const payload = (n) => ({ n, text: 'hello', pad: PAD });

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function measure(transport, resultFile) {
  // B may still be starting: the first request waits for it (Supervisor) or is retried (relay).
  await transport.ready();
  for (let i = 0; i < WARMUP; i++) await transport.request(payload(i));

  const times = new Float64Array(LATENCY_N);
  for (let i = 0; i < LATENCY_N; i++) {
    const t0 = process.hrtime.bigint();
    await transport.request(payload(i));
    times[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const sorted = Array.from(times).sort((a, b) => a - b);

  // Requests with CONCURRENCY in flight.
  let issued = 0;
  const t1 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (issued < CONCURRENT_N) await transport.request(payload(issued++));
    }),
  );
  const concurrentS = Number(process.hrtime.bigint() - t1) / 1e9;

  // One-way messages, at most 2 windows unacknowledged.
  let credits = 2;
  let wake = null;
  transport.onCredit(() => {
    credits += 1;
    wake?.();
  });
  const t2 = process.hrtime.bigint();
  for (let sent = 0; sent < ONE_WAY_N; ) {
    while (credits === 0) await new Promise((resolve) => (wake = resolve));
    credits -= 1;
    for (let i = 0; i < WINDOW && sent < ONE_WAY_N; i++) transport.send(payload(sent++));
  }
  while (credits < 2) await new Promise((resolve) => (wake = resolve));
  const oneWayS = Number(process.hrtime.bigint() - t2) / 1e9;

  const result = {
    latencyUs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length, n: LATENCY_N },
    requestsPerS: CONCURRENT_N / concurrentS,
    messagesPerS: ONE_WAY_N / oneWayS,
  };
  writeFileSync(resultFile, JSON.stringify(result));
  return result;
}

/** B's side of the one-way flow: a credit to A every WINDOW messages. */
export function counter(grant) {
  let received = 0;
  return () => {
    received += 1;
    if (received % WINDOW === 0) grant();
  };
}
