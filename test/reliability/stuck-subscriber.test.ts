/**
 * Fault: a client subscribes to the logs of an app that floods stdout, then stops reading.
 * Before the control socket had bounds the daemon buffered every line for it (4 GB in 70 s).
 * Now its log lines are dropped past 1 MiB unread: the daemon's memory stays flat, `list`
 * keeps answering, and the client hears how many lines it missed once it reads again.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { byStatus, expectOk, fixture, tempHome, waitFor, type Home } from '../helpers.js';
import { report } from './lib.js';
import { DaemonClient, ListProber, MB, mb, peakRssOf, RssSampler } from './probe.js';

const FLOOD_LINES_PER_SEC = 20_000;
const STUCK_MS = 30_000;

describe('reliability: a subscriber that stops reading', () => {
  let home: Home;
  const cleanups: (() => void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) cleanup();
    await home?.cleanup();
  });

  it(`next to an app writing ${FLOOD_LINES_PER_SEC} lines/s: daemon memory stays bounded, list answers, memory is flat after it goes`, async () => {
    home = await tempHome();
    expectOk(await home.cli(['start', fixture('flood-app.cjs'), '--name', 'flood'], { env: { FLOOD_LINES_PER_SEC: String(FLOOD_LINES_PER_SEC) } }));
    await byStatus(home, 'flood', 'online', 1);
    const daemon = (await home.daemonPid()) as number;
    const socketPath = join(home.dir, 'daemon.sock');
    const probeClient = await DaemonClient.open(socketPath);
    cleanups.push(() => probeClient.close());

    // Before: the flood runs, nobody follows it.
    let prober = new ListProber(probeClient);
    let rss = new RssSampler(daemon);
    await waitFor(() => rss.samples.length >= 15, 'three seconds of samples before');
    rss.stop();
    await prober.stop();
    const before = { rssPeakMB: mb(rss.peak), list: prober.summary() };

    // The stuck subscriber.
    const subscriber = await DaemonClient.open(socketPath);
    cleanups.push(() => subscriber.close());
    await subscriber.request('subscribe', { target: 'flood', logs: true, events: true });
    subscriber.stopReading();
    prober = new ListProber(probeClient);
    rss = new RssSampler(daemon);
    const stuckUntil = Date.now() + STUCK_MS;
    const cliLists: number[] = [];
    while (Date.now() < stuckUntil) {
      const started = performance.now();
      expectOk(await home.cli(['list'], { timeoutMs: 20_000 }));
      cliLists.push(Math.round(performance.now() - started));
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    rss.stop();
    await prober.stop();
    const during = { rssPeakMB: mb(rss.peak), list: prober.summary(), cliListMs: { median: cliLists.sort((a, b) => a - b)[cliLists.length >> 1], max: Math.max(...cliLists) } };
    expect(prober.failures).toEqual([]);

    // It reads again: one marker with the count of the lines it missed.
    subscriber.resumeReading();
    const marker = await waitFor(() => subscriber.events.find((e) => e.event === 'dropped'), 'the dropped marker');
    const droppedLines = Number(marker.data?.['lines']);
    expect(droppedLines).toBeGreaterThan(FLOOD_LINES_PER_SEC); // most of 30 s of lines
    subscriber.close();

    // After it has gone.
    rss = new RssSampler(daemon);
    await waitFor(() => rss.samples.length >= 25, 'five seconds of samples after');
    rss.stop();
    const after = { rssLastMB: mb(rss.last) };
    const peakEver = peakRssOf(daemon);

    report('stuck-subscriber', {
      floodLinesPerSec: FLOOD_LINES_PER_SEC,
      stuckSeconds: STUCK_MS / 1000,
      droppedLines,
      before,
      during,
      after,
      daemonPeakRssMB: mb(peakEver),
    });
    // The subscriber may cost its 1 MiB of unread output plus the kernel's buffers; before the
    // bounds, the daemon kept every line for it and grew for as long as the flood lasted.
    expect(during.rssPeakMB).toBeLessThan(before.rssPeakMB + 40);
    expect(peakEver).toBeLessThan(before.rssPeakMB * MB + 40 * MB);
    expect(after.rssLastMB).toBeLessThan(before.rssPeakMB + 40);
  });
});
