/**
 * The control socket: a WebSocket server on $SUPERVISOR_HOME/daemon.sock. Every frame is
 * checked at this edge (parseRequest); a bad frame gets an error reply and changes nothing,
 * and nothing a client sends can throw out of here.
 */
import { createServer, type Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { SupervisorError } from '../shared/errors.js';
import { frameId, parseRequest } from '../shared/protocol-validate.js';
import type { Method, RequestFrame, ResponseFrame, ServerFrame } from '../shared/protocol.js';
import type { EventBus } from './events.js';
import { handlers, type HandlerContext } from './handlers.js';

const MAX_FRAME_BYTES = 8 * 1024 * 1024;

export type ConnectionContext = Omit<HandlerContext, 'connection'>;

export class ControlServer {
  readonly #http: Server;
  readonly #ws: WebSocketServer;

  constructor(
    private readonly context: ConnectionContext,
    private readonly bus: EventBus,
    private readonly log: (line: string) => void,
  ) {
    this.#http = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('supervisor daemon: WebSocket only\n');
    });
    this.#ws = new WebSocketServer({ server: this.#http, maxPayload: MAX_FRAME_BYTES });
    this.#ws.on('connection', (socket) => this.#accept(socket));
    this.#ws.on('error', (error) => this.log(`control socket error: ${error.message}`));
  }

  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(path, () => {
        this.#http.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    for (const client of this.#ws.clients) client.terminate();
    this.#ws.close();
    return new Promise((resolve) => this.#http.close(() => resolve()));
  }

  #accept(socket: WebSocket): void {
    let greeted = false;
    const unsubscribers: (() => void)[] = [];
    const send = (frame: ServerFrame): void => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame));
    };
    const context: HandlerContext = {
      ...this.context,
      connection: {
        subscribe: (subscriber) => unsubscribers.push(this.bus.subscribe({ ...subscriber, deliver: send })),
      },
    };
    socket.on('error', () => socket.terminate());
    socket.on('close', () => unsubscribers.forEach((unsubscribe) => unsubscribe()));
    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        send({ id: null, error: { code: 'INVALID_REQUEST', message: 'binary frames are not accepted' } });
        return;
      }
      let request: RequestFrame;
      try {
        request = parseRequest(data.toString());
      } catch (error) {
        send({ id: safeId(data.toString()), error: toWire(error) });
        return;
      }
      if (!greeted && request.method !== 'hello') {
        send({ id: request.id, error: { code: 'INVALID_REQUEST', message: 'the first request must be hello' } });
        return;
      }
      void this.#dispatch(request, context).then((reply) => {
        if (request.method === 'hello' && reply.error === undefined) greeted = true;
        send(reply);
      });
    });
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
