/** The pure parts of the metrics endpoint: text format, /proc parsing, readiness, addresses. */
import { describe, expect, it } from 'vitest';
import { SupervisorError } from '../../src/shared/errors.js';
import { formatMetricsAddress, metricsAddressSetting, parseMetricsAddress } from '../../src/shared/metrics-address.js';
import { parseCpuSeconds, parseResidentBytes } from '../../src/daemon/observability/proc-usage.js';
import { escapeHelp, escapeLabelValue, formatMetrics, formatValue } from '../../src/daemon/observability/prometheus-text.js';
import { appReadiness, daemonNotReady, startupSettled, type ReadinessSlot } from '../../src/daemon/app-readiness.js';
import type { ProcessStatus } from '../../src/shared/protocol.js';

describe('prometheus text format', () => {
  it('writes HELP, TYPE and one line per sample, labels in order', () => {
    const text = formatMetrics([
      { name: 'x_up', help: 'Up.', type: 'gauge', samples: [{ labels: { app: 'a', id: 0 }, value: 1 }, { labels: { app: 'b', id: 1 }, value: 0 }] },
      { name: 'x_total', help: 'Count.', type: 'counter', samples: [{ value: 42 }] },
    ]);
    expect(text).toBe(
      ['# HELP x_up Up.', '# TYPE x_up gauge', 'x_up{app="a",id="0"} 1', 'x_up{app="b",id="1"} 0', '# HELP x_total Count.', '# TYPE x_total counter', 'x_total 42', ''].join('\n'),
    );
  });

  it('keeps HELP and TYPE for a family with no samples', () => {
    expect(formatMetrics([{ name: 'x_lag', help: 'Lag.', type: 'gauge', samples: [] }])).toBe('# HELP x_lag Lag.\n# TYPE x_lag gauge\n');
    expect(formatMetrics([])).toBe('');
  });

  it('escapes label values (backslash, quote, newline) and HELP (backslash, newline)', () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(escapeHelp('say "hi"\\\nthere')).toBe('say "hi"\\\\\\nthere');
    const text = formatMetrics([{ name: 'x', help: 'h', type: 'gauge', samples: [{ labels: { app: 'we"ird\nname' }, value: 1 }] }]);
    expect(text).toContain('x{app="we\\"ird\\nname"} 1');
  });

  it('writes special values as the format spells them', () => {
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(-Infinity)).toBe('-Inf');
    expect(formatValue(0.25)).toBe('0.25');
    expect(formatValue(1796137585.141)).toBe('1796137585.141');
  });

  it('refuses invalid or duplicate names: they are our bugs, not input', () => {
    expect(() => formatMetrics([{ name: '1bad', help: '', type: 'gauge', samples: [] }])).toThrow(/invalid metric name/);
    expect(() => formatMetrics([{ name: 'x', help: '', type: 'gauge', samples: [{ labels: { 'bad-label': 1 }, value: 1 }] }])).toThrow(/invalid label name/);
    expect(() => formatMetrics([{ name: 'x', help: '', type: 'gauge', samples: [{ labels: { __name__: 1 }, value: 1 }] }])).toThrow(/invalid label name/);
    const twice = { name: 'x', help: '', type: 'gauge' as const, samples: [] };
    expect(() => formatMetrics([twice, twice])).toThrow(/twice/);
  });
});

describe('/proc parsing', () => {
  // Field 2 may contain spaces and parentheses: the parser must count from the last ')'.
  const stat = '1234 (my (odd) app) S 1 1234 1234 0 -1 4194560 3158 0 0 0 250 75 0 0 20 0 11 0 123456 1154461696 11892 18446744073709551615';

  it('reads utime + stime in seconds (USER_HZ 100)', () => {
    expect(parseCpuSeconds(stat)).toBeCloseTo(3.25);
    expect(parseCpuSeconds('garbage')).toBeNull();
    expect(parseCpuSeconds('1 (x) S 1 2')).toBeNull();
  });

  it('reads VmRSS in bytes, and nothing for a process without one', () => {
    expect(parseResidentBytes('Name:\tnode\nVmPeak:\t  100 kB\nVmRSS:\t   47568 kB\nRssAnon:\t 1 kB\n')).toBe(47568 * 1024);
    expect(parseResidentBytes('Name:\tkthreadd\nState:\tS (sleeping)\n')).toBeNull();
  });
});

describe('readiness', () => {
  const slot = (id: number, status: ProcessStatus, exited = false): ReadinessSlot => ({
    id,
    wanted: status !== 'stopped' && status !== 'stopping',
    state: { status },
    lastExit: exited ? {} : null,
  });
  const source = (apps: Record<string, ReadinessSlot[]>) => ({ apps: new Map(Object.entries(apps).map(([name, slots]) => [name, { name, slots }])) });

  it('is ready when every wanted process is online (no apps: ready)', () => {
    expect(appReadiness(source({})).ready).toBe(true);
    const r = appReadiness(source({ api: [slot(0, 'online'), slot(1, 'online')], batch: [slot(2, 'stopped'), slot(3, 'stopping')] }));
    expect(r).toMatchObject({ phase: 'running', ready: true, reason: '2 processes online', waiting: [] });
  });

  it('names what it waits for: errored, waiting-restart, launching', () => {
    const r = appReadiness(source({ api: [slot(0, 'online'), slot(1, 'errored', true)], worker: [slot(2, 'launching'), slot(3, 'waiting-restart', true)] }));
    expect(r.ready).toBe(false);
    expect(r.reason).toBe('3 of 4 processes not online (api:1 errored, worker:2 launching, worker:3 waiting-restart)');
    expect(r.waiting).toEqual([
      { app: 'api', id: 1, status: 'errored', exited: true },
      { app: 'worker', id: 2, status: 'launching', exited: false },
      { app: 'worker', id: 3, status: 'waiting-restart', exited: true },
    ]);
  });

  it('lists at most 10 processes, and says there are more', () => {
    const r = appReadiness(source({ big: Array.from({ length: 25 }, (_, i) => slot(i, 'errored', true)) }));
    expect(r.waiting).toHaveLength(10);
    expect(r.reason).toMatch(/^25 of 25 processes not online \(.*, \.\.\.\)$/);
  });

  it('start-up is settled once no process is on its first launch, crash-looping ones included', () => {
    expect(startupSettled(appReadiness(source({ a: [slot(0, 'launching')] })))).toBe(false);
    expect(startupSettled(appReadiness(source({ a: [slot(0, 'launching', true)] })))).toBe(true); // relaunch after a failure
    expect(startupSettled(appReadiness(source({ a: [slot(0, 'errored', true), slot(1, 'online')] })))).toBe(true);
    // More processes on their first launch than the list shows are still counted.
    const many = Array.from({ length: 12 }, (_, i) => slot(i, i < 11 ? 'errored' : 'launching', i < 11));
    expect(startupSettled(appReadiness(source({ a: many })))).toBe(false);
    expect(daemonNotReady('stopping')).toEqual({ phase: 'stopping', ready: false, reason: 'the daemon is stopping', waiting: [], firstLaunches: 0 });
    // Never settled before the daemon runs, though no process is launching yet.
    expect(startupSettled(daemonNotReady('starting'))).toBe(false);
  });
});

describe('SUPERVISOR_METRICS addresses', () => {
  it.each([
    ['9209', '127.0.0.1', 9209],
    [' 9209 ', '127.0.0.1', 9209],
    ['127.0.0.1:9209', '127.0.0.1', 9209],
    ['0.0.0.0:80', '0.0.0.0', 80],
    ['localhost:9209', 'localhost', 9209],
    ['metrics.internal:9209', 'metrics.internal', 9209],
    ['[::1]:9209', '::1', 9209],
    ['[::]:9209', '::', 9209],
  ])('%s listens on %s port %s', (raw, host, port) => {
    expect(parseMetricsAddress(raw, 'SUPERVISOR_METRICS')).toEqual({ host, port });
  });

  it.each([['0'], ['65536'], [':9209'], ['host'], ['host:'], ['::1:9209'], ['[127.0.0.1]:9209'], ['bad_host:9209'], ['1.2.3.4:-1'], ['http://x:1']])('refuses %s with one clear error', (raw) => {
    for (const source of ['SUPERVISOR_METRICS', '--metrics'] as const) {
      let error: unknown;
      try {
        parseMetricsAddress(raw, source);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SupervisorError);
      expect((error as SupervisorError).code).toBe('INVALID_REQUEST');
      // Named as the user gave it: the flag they typed, or the variable they set.
      expect((error as SupervisorError).message.startsWith(`${source} must be host:port or a port`)).toBe(true);
      expect((error as SupervisorError).message).not.toContain('\n');
    }
  });

  it('is off when unset or empty, and formats IPv6 in brackets', () => {
    expect(metricsAddressSetting({})).toBeNull();
    expect(metricsAddressSetting({ SUPERVISOR_METRICS: ' ' })).toBeNull();
    expect(metricsAddressSetting({ SUPERVISOR_METRICS: '9209' })).toEqual({ host: '127.0.0.1', port: 9209 });
    expect(formatMetricsAddress({ host: '::1', port: 1 })).toBe('[::1]:1');
    expect(formatMetricsAddress({ host: '10.0.0.1', port: 1 })).toBe('10.0.0.1:1');
  });
});
