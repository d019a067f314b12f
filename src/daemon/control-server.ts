/**
 * The control socket: WebSocket connections on $SUPERVISOR_HOME/daemon.sock. Every frame is
 * checked at this edge (parseRequest); a bad frame gets an error reply and changes nothing,
 * and nothing a client sends can throw out of here.
 */
import { SupervisorError } from '../shared/errors.js';
import { frameId, parseRequest } from '../shared/protocol-validate.js';
import type { Method, RequestFrame, ResponseFrame, ServerFrame } from '../shared/protocol.js';
import type { EventBus } from './events.js';
import { handlers, type HandlerContext } from './handlers.js';
import { WebSocketEndpoint, type Peer, type PeerHandlers } from './ws-server.js';

const MAX_FRAME_BYTES = 8 * 1024 * 1024;

export type ConnectionContext = Omit<HandlerContext, 'connection'>;

export class ControlServer {
  readonly #endpoint: WebSocketEndpoint;

  constructor(
    private readonly context: ConnectionContext,
    private readonly bus: EventBus,
    private readonly log: (line: string) => void,
  ) {
    this.#endpoint = new WebSocketEndpoint((peer) => this.#accept(peer), MAX_FRAME_BYTES);
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
    const send = (frame: ServerFrame): void => peer.send(JSON.stringify(frame));
    const context: HandlerContext = {
      ...this.context,
      connection: {
        subscribe: (subscriber) => unsubscribers.push(this.bus.subscribe({ ...subscriber, deliver: send })),
      },
    };
    return {
      onClose: () => unsubscribers.forEach((unsubscribe) => unsubscribe()),
      onBinary: () => send({ id: null, error: { code: 'INVALID_REQUEST', message: 'binary frames are not accepted' } }),
      onText: (text) => {
        let request: RequestFrame;
        try {
          request = parseRequest(text);
        } catch (error) {
          send({ id: safeId(text), error: toWire(error) });
          return;
        }
        if (request.method === 'hello') {
          const reply = this.#dispatch(request, context);
          // A failed hello (wrong version) may be followed by a good one on the same connection.
          const previous = hello;
          hello = reply.then(async (r) => r.error === undefined || (previous !== null && (await previous)));
          void reply.then(send);
          return;
        }
        if (!hello) {
          send({ id: request.id, error: { code: 'INVALID_REQUEST', message: 'the first request must be hello' } });
          return;
        }
        void hello.then((greeted) =>
          greeted
            ? this.#dispatch(request, context).then(send)
            : send({ id: request.id, error: { code: 'INVALID_REQUEST', message: 'the first request must be a successful hello' } }),
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
