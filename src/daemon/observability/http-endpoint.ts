/**
 * The daemon's HTTP endpoint for monitoring, on only when SUPERVISOR_METRICS is set (run.ts
 * imports this module only then, so a daemon without it loads no HTTP code at all):
 *
 *   GET /metrics   Prometheus text format, gathered at the request (collect.ts)
 *   GET /healthz   200 while the daemon runs
 *   GET /readyz    200 when every app has its wanted processes online, else 503 and why (JSON)
 *
 * Bounded like every edge of the daemon: few connections, short timeouts, small heads, no
 * request bodies; concurrent scrapes share one collection.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SupervisorError } from '../../shared/errors.js';
import { formatMetricsAddress, type MetricsAddress } from '../../shared/metrics-address.js';
import type { ReadinessReport } from '../app-readiness.js';
import type { Registry } from '../registry.js';
import { collectMetrics, type DaemonFigures } from './collect.js';
import { EventLoopLag } from './event-loop-lag.js';
import { CONTENT_TYPE, formatMetrics } from './prometheus-text.js';

const MAX_CONNECTIONS = 32;
const HEADERS_TIMEOUT_MS = 5000;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_HEADER_BYTES = 8192;

interface EndpointOptions {
  address: MetricsAddress;
  registry: Registry;
  daemon: DaemonFigures;
  readiness(): ReadinessReport;
  log(line: string): void;
}

export interface ObservabilityEndpoint {
  /** host:port actually bound. */
  readonly address: string;
  close(): Promise<void>;
}

export async function startEndpoint(options: EndpointOptions): Promise<ObservabilityEndpoint> {
  const lag = EventLoopLag.start();
  let inFlight: Promise<string> | null = null;
  const scrape = (): Promise<string> =>
    (inFlight ??= collectMetrics({ registry: options.registry, daemon: options.daemon, lag })
      .then(formatMetrics)
      .finally(() => {
        inFlight = null;
      }));

  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string, headers: Record<string, string> = {}): void => {
      response.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body), ...headers });
      response.end(request.method === 'HEAD' ? undefined : body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      reply(405, 'text/plain; charset=utf-8', 'only GET\n', { Allow: 'GET, HEAD', Connection: 'close' });
      return;
    }
    switch (path) {
      case '/metrics':
        scrape().then(
          (text) => reply(200, CONTENT_TYPE, text),
          (error: unknown) => {
            options.log(`metrics: collection failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
            reply(500, 'text/plain; charset=utf-8', 'collection failed; see the daemon log\n');
          },
        );
        return;
      case '/healthz':
        reply(200, 'text/plain; charset=utf-8', 'ok\n');
        return;
      case '/readyz': {
        const readiness = options.readiness();
        const body = readiness.ready
          ? { ready: true, reason: readiness.reason }
          : { ready: false, reason: readiness.reason, waiting: readiness.waiting };
        reply(readiness.ready ? 200 : 503, 'application/json', `${JSON.stringify(body)}\n`);
        return;
      }
      case '/':
        reply(200, 'text/plain; charset=utf-8', 'supervisor daemon: /metrics /healthz /readyz\n');
        return;
      default:
        reply(404, 'text/plain; charset=utf-8', 'not found (try /metrics, /healthz, /readyz)\n');
    }
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  // A client that misbehaves gets its connection closed, never an exception in the daemon.
  server.on('clientError', (_error, socket) => socket.destroy());

  const label = formatMetricsAddress(options.address);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: options.address.host, port: options.address.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    lag?.stop();
    const e = error as NodeJS.ErrnoException;
    throw new SupervisorError('FAILED', `cannot serve metrics on ${label}: ${e.code ?? e.message}`);
  }
  server.on('error', (error) => options.log(`metrics endpoint: ${error.message}`));
  const bound = server.address() as AddressInfo;
  return {
    address: formatMetricsAddress({ host: bound.address, port: bound.port }),
    close: () =>
      new Promise<void>((resolve) => {
        lag?.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
