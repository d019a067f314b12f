/**
 * Fault: 100 connections each send all but the last byte of an 8 MiB frame (the largest the
 * daemon accepts), as fast as the socket takes them. Before the control socket had bounds
 * the daemon held all of it (250 connections: 2.8 GB, `list` 3.7 s). Now partially received
 * messages share one 32 MiB budget: past it, the connection holding the most is closed with
 * 1013, so the daemon's memory stays bounded and `list` answers throughout.
 */
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, OP_TEXT } from '../../src/shared/ws-frames.js';
import { byStatus, expectOk, fixture, tempHome, waitFor, type Home } from '../helpers.js';
import { report } from './lib.js';
import { DaemonClient, ListProber, MB, mb, peakRssOf, RssSampler } from './probe.js';

const CONNECTIONS = 100;
const FRAME_PAYLOAD = 8 * 1024 * 1024;

interface Attacker {
  socket: net.Socket;
  closed: boolean;
  /** The close code the daemon sent, if a close frame arrived. */
  closeCode: number | null;
}

/** Opens an upgraded connection and sends all but the last byte of `frame`. */
function attack(socketPath: string, frame: Buffer): Promise<Attacker> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const attacker: Attacker = { socket, closed: false, closeCode: null };
    let head = Buffer.alloc(0);
    let upgraded = false;
    socket.on('error', () => undefined);
    socket.on('close', () => (attacker.closed = true));
    socket.once('connect', () =>
      socket.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'),
    );
    socket.on('data', (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (!upgraded) {
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!head.subarray(0, end).toString('latin1').startsWith('HTTP/1.1 101 ')) {
          reject(new Error(head.toString('latin1')));
          return;
        }
        upgraded = true;
        head = head.subarray(end + 4);
        socket.write(frame.subarray(0, frame.length - 1));
        resolve(attacker);
      }
      // A close frame from the daemon: 0x88, a length, then the code.
      const at = head.indexOf(0x88);
      if (at >= 0 && head.length >= at + 4) attacker.closeCode = head.readUInt16BE(at + 2);
    });
  });
}

describe('reliability: partial huge frames', () => {
  let home: Home;
  const cleanups: (() => void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) cleanup();
    await home?.cleanup();
  });

  it(`${CONNECTIONS} connections each sending all but the last byte of an 8 MiB frame: daemon memory bounded, list answers`, async () => {
    home = await tempHome();
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle', '--mode', 'fork', '-i', '4']));
    await byStatus(home, 'idle', 'online', 4);
    const daemon = (await home.daemonPid()) as number;
    const socketPath = join(home.dir, 'daemon.sock');
    const probeClient = await DaemonClient.open(socketPath);
    cleanups.push(() => probeClient.close());

    let prober = new ListProber(probeClient);
    let rss = new RssSampler(daemon);
    await waitFor(() => rss.samples.length >= 15, 'three seconds of samples before');
    rss.stop();
    await prober.stop();
    const before = { rssPeakMB: mb(rss.peak), list: prober.summary() };

    // One frame (masked, as a client's must be), shared by every attacker.
    const frame = encodeFrame(OP_TEXT, Buffer.alloc(FRAME_PAYLOAD, 0x20), true);
    prober = new ListProber(probeClient);
    rss = new RssSampler(daemon, 100);
    const started = Date.now();
    const attackers = await Promise.all(Array.from({ length: CONNECTIONS }, () => attack(socketPath, frame)));
    cleanups.push(() => attackers.forEach((a) => a.socket.destroy()));
    const cliLists: number[] = [];
    // Until every attacker is closed or has had all its bytes taken by the kernel.
    await waitFor(
      async () => {
        const t = performance.now();
        expectOk(await home.cli(['list'], { timeoutMs: 20_000 }));
        cliLists.push(Math.round(performance.now() - t));
        return attackers.every((a) => a.closed || a.socket.writableLength === 0);
      },
      'the attack to be over',
      120_000,
      500,
    );
    const attackMs = Date.now() - started;
    rss.stop();
    await prober.stop();
    const closedWith1013 = attackers.filter((a) => a.closeCode === 1013).length;
    const stillOpen = attackers.filter((a) => !a.closed).length;
    const during = {
      rssPeakMB: mb(rss.peak),
      list: prober.summary(),
      cliListMs: { median: cliLists.sort((a, b) => a - b)[cliLists.length >> 1], max: Math.max(...cliLists) },
    };
    expect(prober.failures).toEqual([]);

    for (const a of attackers) a.socket.destroy();
    rss = new RssSampler(daemon);
    await waitFor(() => rss.samples.length >= 25, 'five seconds of samples after');
    rss.stop();
    const after = { rssLastMB: mb(rss.last), list: await probeClient.timeList().then((ms) => Math.round(ms * 10) / 10) };
    const peakEver = peakRssOf(daemon);

    report('partial-frames', {
      connections: CONNECTIONS,
      attackSeconds: Math.round(attackMs / 100) / 10,
      closedWith1013,
      stillOpenAtEnd: stillOpen,
      before,
      during,
      after,
      daemonPeakRssMB: mb(peakEver),
    });
    // The budget is 32 MiB of partial input; the rest of the margin is the daemon's own churn.
    expect(during.rssPeakMB).toBeLessThan(before.rssPeakMB + 80);
    expect(peakEver).toBeLessThan(before.rssPeakMB * MB + 80 * MB);
    // Only what fits the budget stays open: four 8 MiB frames at most.
    expect(stillOpen).toBeLessThanOrEqual(4);
    expect(closedWith1013).toBeGreaterThanOrEqual(CONNECTIONS - 4 - 5);
  });
});
