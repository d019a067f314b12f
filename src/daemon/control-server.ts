/**
 * The control socket: WebSocket connections on $SUPERVISOR_HOME/daemon.sock. Every frame is
 * checked at this edge (parseRequest); a bad frame gets an error reply and changes nothing,
 * and nothing a client sends can throw out of here.
 *
 * Per connection it also keeps the rules that need to know what a message means: how many
 * requests may be pending, when a connection counts as idle (nothing pending, no
 * subscription), and which messages may be dropped for a subscriber that does not keep up
 * (log lines, counted and reported with one `dropped` event once it has caught up).
 */
import { DEFAULT_CONTROL_LIMITS, type ControlLimits } from '../shared/control-limits.js';
import { SupervisorError } from '../shared/errors.js';
import { frameId, parseRequest } from '../shared/protocol-validate.js';
import type { EventFrame, Method, RequestFrame, ResponseFrame, ServerFrame } from '../shared/protocol.js';
import type { EventBus } from './events.js';
import { handlers, type HandlerContext } from './handlers.js';
import { CLOSE_NORMAL, WebSocketEndpoint, type Peer, type PeerHandlers } from './ws-server.js';

/** Subscriptions one connection may hold (the CLI and the API use one or two). */
const MAX_SUBSCRIPTIONS = 16;

type ConnectionContext = Omit<HandlerContext, 'connection'>;

export class ControlServer {
  readonly #endpoint: WebSocketEndpoint;
  #logLinesDropped = 0;

  constructor(
    private readonly context: ConnectionContext,
    private readonly bus: EventBus,
    private readonly log: (line: string) => void,
    private readonly limits: ControlLimits = DEFAULT_CONTROL_LIMITS,
  ) {
    this.#endpoint = new WebSocketEndpoint((peer) => this.#accept(peer), limits);
  }

  /** Control connections open now (handshaking ones included). */
  get openConnections(): number {
    return this.#endpoint.stats.open;
  }

  /** Connections refused because `maxConnections` were open, since the daemon started. */
  get refusedConnections(): number {
    return this.#endpoint.stats.refused;
  }

  /** Log lines not delivered to subscribers that did not keep up, since the daemon started. */
  get logLinesDropped(): number {
    return this.#logLinesDropped;
  }

  /** Connections closed for not reading (1008) or to keep the daemon within budget (1013). */
  get closedConnections(): { slow: number; overBudget: number } {
    const { closedSlow, closedOverBudget } = this.#endpoint.stats;
    return { slow: closedSlow, overBudget: closedOverBudget };
  }

  listen(path: string): Promise<void> {
    return this.#endpoint.listen(path);
  }

  close(): Promise<void> {
    return this.#endpoint.close();
  }

  #accept(peer: Peer): PeerHandlers {
    // Settles with whether hello succeeded; requests pipelined behind hello wait for it.
    let hello: Promise<boolean> | null = null;
    const unsubscribers: (() => void)[] = [];
    let pending = 0;
    let droppedLines = 0;
    let closed = false;
    const send = (frame: ServerFrame): void => peer.send(JSON.stringify(frame));

    let idleTimer: NodeJS.Timeout | null = null;
    const idleSeconds = Math.round(this.limits.idleTimeoutMs / 100) / 10;
    const watchIdle = (): void => {
      if (closed || idleTimer || pending > 0 || unsubscribers.length > 0) return;
      idleTimer = setTimeout(() => peer.close(CLOSE_NORMAL, `idle for ${idleSeconds} s`), this.limits.idleTimeoutMs);
    };
    const notIdle = (): void => {
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = null;
    };
    watchIdle();

    /** Answers a request, counting it as pending (so the connection is not idle) until then. */
    const answer = (reply: () => Promise<ResponseFrame>): void => {
      pending += 1;
      notIdle();
      void reply().then((response) => {
        pending -= 1;
        send(response);
        watchIdle();
      });
    };

    const deliver = (frame: EventFrame): void => {
      // Log lines may be lost for a subscriber that lags; process events and replies may not.
      if (frame.event === 'log' && peer.backlogged) {
        droppedLines += 1;
        this.#logLinesDropped += 1;
        return;
      }
      send(frame);
    };
    const context: HandlerContext = {
      ...this.context,
      connection: {
        subscribe: (subscriber) => {
          // Each one is a bus subscriber that sees every event: a bound, like every other here.
          if (unsubscribers.length >= MAX_SUBSCRIPTIONS) {
            throw new SupervisorError('FAILED', `at most ${MAX_SUBSCRIPTIONS} subscriptions per connection`);
          }
          unsubscribers.push(this.bus.subscribe({ ...subscriber, deliver }));
          notIdle();
        },
      },
    };
    return {
      onClose: () => {
        closed = true;
        notIdle();
        unsubscribers.forEach((unsubscribe) => unsubscribe());
      },
      onDrain: () => {
        if (droppedLines === 0) return;
        const lines = droppedLines;
        droppedLines = 0;
        send({ event: 'dropped', data: { lines } });
      },
      onBinary: () => send({ id: null, error: { code: 'INVALID_REQUEST', message: 'binary frames are not accepted' } }),
      onText: (text) => {
        let request: RequestFrame;
        try {
          request = parseRequest(text);
        } catch (error) {
          send({ id: safeId(text), error: toWire(error) });
          return;
        }
        if (pending >= this.limits.maxPendingRequests) {
          const message = `too many requests in flight on this connection (${this.limits.maxPendingRequests}): wait for replies`;
          send({ id: request.id, error: { code: 'FAILED', message } });
          return;
        }
        if (request.method === 'hello') {
          const reply = this.#dispatch(request, context);
          // A failed hello (wrong version) may be followed by a good one on the same connection.
          const previous = hello;
          hello = reply.then(async (r) => r.error === undefined || (previous !== null && (await previous)));
          answer(() => reply);
          return;
        }
        if (!hello) {
          send({ id: request.id, error: { code: 'INVALID_REQUEST', message: 'the first request must be hello' } });
          return;
        }
        const greeted = hello;
        answer(async () =>
          (await greeted)
            ? this.#dispatch(request, context)
            : { id: request.id, error: { code: 'INVALID_REQUEST', message: 'the first request must be a successful hello' } },
        );
      },
    };
  }

  async #dispatch(request: RequestFrame, context: HandlerContext): Promise<ResponseFrame> {
    const handler = handlers[request.method] as (params: unknown, ctx: HandlerContext) => Promise<unknown>;
    try {
      return { id: request.id, result: await handler(request.params, context) };
    } catch (error) {
      if (!(error instanceof SupervisorError)) {
        this.log(`internal error in ${request.method as Method}: ${error instanceof Error ? error.stack : String(error)}`);
      }
      return { id: request.id, error: toWire(error) };
    }
  }
}

function toWire(error: unknown): { code: SupervisorError['code']; message: string } {
  if (error instanceof SupervisorError) return error.toWire();
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}

function safeId(text: string): number | null {
  try {
    return frameId(JSON.parse(text));
  } catch {
    return null;
  }
}
