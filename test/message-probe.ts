/**
 * A probe app for the messaging tests, written into a folder outside the repository (no
 * node_modules anywhere above it), as ESM (`probe.mjs`) and as CommonJS (`probe.cjs`): it
 * imports `supervisor-node/process`, which only the daemon's runtime can resolve there.
 *
 * The test drives it with pm2's own pattern, both ways: commands arrive through
 * sendDataToProcessId on process.on('message') (topic 'do'), and results, messages and peer
 * events go back on the API bus with process.send({ type: 'process:msg', topic, data }).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Supervisor, type BusPacket } from '../dist/client/api.js';
import { waitFor } from './helpers.js';

const BODY = String.raw`
const report = (topic, data) => process.send({ type: 'process:msg', topic, data: { ...data, at: Date.now(), self: sv.self } });
const outcome = async (ref, promise) => {
  try {
    report('result', { ref, ok: true, value: await promise });
  } catch (error) {
    report('result', { ref, ok: false, code: error.code, message: error.message, name: error.name, remote: error.remote ?? null, isMessageError: error instanceof sv.MessageError });
  }
};

let behavior = process.env.PROBE_SERVE ?? 'echo';
const handler = async (data, from) => {
  switch (behavior) {
    case 'echo': return data && data.hang ? new Promise(() => {}) : { data, from, by: sv.self.id };
    case 'throw': throw Object.assign(new Error('handler failed on ' + JSON.stringify(data)), { code: 'E_APP' });
    case 'never': return new Promise(() => {});
    case 'big': return 'x'.repeat(sv.MESSAGE_LIMITS.maxChars + 10);
    case 'nested': return sv.request(data.target, data.data, { timeout: data.timeout ?? 2000 });
    default: throw new Error('unknown behavior ' + behavior);
  }
};
if (behavior !== 'none') {
  const delay = Number(process.env.PROBE_SERVE_AFTER ?? 0);
  if (delay > 0) setTimeout(() => sv.onRequest(handler), delay);
  else sv.onRequest(handler);
}

// Large messages are reported by size only: the bus is not what is under test there.
const onMessage = (data, from) => report('message', { data: JSON.stringify(data).length > 1000 ? { size: JSON.stringify(data).length } : data, from });
const onPeer = (event) => report('peer', { event });

function block(ms) {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

process.on('message', (packet) => {
  if (!packet || packet.topic !== 'do') return;
  const { ref, op, ...args } = packet.data;
  switch (op) {
    case 'self': return report('result', { ref, ok: true, value: { self: sv.self, supervised: sv.supervised, pid: process.pid, packet } });
    case 'request': return void outcome(ref, sv.request(args.target, args.data, args.timeout === undefined ? undefined : { timeout: args.timeout }));
    case 'send': return void outcome(ref, sv.send(args.target, args.data));
    case 'peers': return void outcome(ref, sv.peers(args.app));
    case 'serve': behavior = args.behavior; sv.onRequest(args.behavior === 'none' ? null : handler); return report('result', { ref, ok: true });
    case 'listen': if (args.on) sv.on('message', onMessage); else sv.off('message', onMessage); return report('result', { ref, ok: true });
    case 'watch': if (args.on) sv.on('peer', onPeer); else sv.off('peer', onPeer); return report('result', { ref, ok: true });
    case 'block': report('result', { ref, ok: true }); setTimeout(() => block(args.ms), 50); return;
    case 'flood': {
      // count calls at once; reports how many ended with each outcome.
      // With sequential, each waits for the previous one.
      const big = args.size ? 'x'.repeat(args.size) : args.data;
      const call = () => (args.kind === 'send' ? sv.send(args.target, big) : sv.request(args.target, big, { timeout: args.timeout ?? 10000 }));
      const codes = {};
      const count = (promise) => promise.then(() => 'ok', (e) => e.code).then((key) => (codes[key] = (codes[key] ?? 0) + 1));
      return void (async () => {
        if (args.sequential) for (let i = 0; i < args.count; i++) await count(call());
        else await Promise.all(Array.from({ length: args.count }, () => count(call())));
        report('result', { ref, ok: true, value: codes });
      })();
    }
    case 'exit': return process.exit(args.code ?? 0);
  }
});
if (process.env.PROBE_READY) process.send('ready');
report('started', { pid: process.pid });
`;

export interface ProbeFiles {
  dir: string;
  esm: string;
  cjs: string;
  remove(): Promise<void>;
}

export async function writeProbes(): Promise<ProbeFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'sv-probe-'));
  const esm = join(dir, 'probe.mjs');
  const cjs = join(dir, 'probe.cjs');
  await writeFile(esm, `import * as sv from 'supervisor-node/process';\n${BODY}`);
  await writeFile(cjs, `const sv = require('supervisor-node/process');\n${BODY}`);
  return { dir, esm, cjs, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** What a probe reports on the bus. */
export interface ProbeReport {
  ref?: number;
  ok?: boolean;
  value?: unknown;
  code?: string;
  message?: string;
  remote?: unknown;
  isMessageError?: boolean;
  at: number;
  self: { id: number; name: string; instance: number } | null;
  [key: string]: unknown;
}

/** The test's side: commands through sendDataToProcessId, reports from the bus. */
export class ProbeDriver {
  readonly packets: BusPacket[] = [];
  #nextRef = 1;

  private constructor(readonly sv: Supervisor) {}

  static async connect(home: string): Promise<ProbeDriver> {
    const sv = await Supervisor.connect({ home, start: false });
    const driver = new ProbeDriver(sv);
    const bus = await sv.launchBus();
    bus.on('process:msg', (packet: BusPacket) => driver.packets.push(packet));
    return driver;
  }

  /** Runs one command in process `id` and waits (bounded) for its result. */
  async do(id: number, op: string, args: Record<string, unknown> = {}, timeoutMs = 15_000): Promise<ProbeReport> {
    const ref = this.#nextRef++;
    await this.sv.sendDataToProcessId(id, { type: 'process:msg', topic: 'do', data: { ref, op, ...args } });
    return this.waitReport((r, topic) => topic === 'result' && r.ref === ref, `result of ${op} #${ref} in process ${id}`, timeoutMs);
  }

  reports(topic: string, from?: number): ProbeReport[] {
    return this.packets.filter((p) => p.topic === topic && (from === undefined || p.process.id === from)).map((p) => p.data as ProbeReport);
  }

  waitReport(match: (report: ProbeReport, topic: unknown, packet: BusPacket) => boolean, what: string, timeoutMs = 15_000): Promise<ProbeReport> {
    return waitFor(() => {
      const packet = this.packets.find((p) => match(p.data as ProbeReport, p.topic, p));
      return packet ? (packet.data as ProbeReport) : null;
    }, what, timeoutMs, 20);
  }

  /** Waits until process `id` (as it is now) has reported it started. */
  started(id: number, pid: number): Promise<ProbeReport> {
    return this.waitReport((r, topic, p) => topic === 'started' && p.process.id === id && r['pid'] === pid, `process ${id} (pid ${pid}) started`);
  }

  close(): void {
    this.sv.close();
  }
}
