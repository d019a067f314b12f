/**
 * The daemon's WebSocket endpoint on daemon.sock: the HTTP upgrade handshake, then text
 * messages. Anything else (a plain HTTP request, garbage, an unmasked or oversized frame)
 * gets a short answer and a closed connection; nothing a peer sends can throw out of here.
 */
import net from 'node:net';
import { acceptKey, closePayload, encodeFrame, FrameDecoder, OP_CLOSE, OP_PONG, OP_TEXT } from '../shared/ws-frames.js';

const MAX_HEAD_BYTES = 8192;
const HANDSHAKE_TIMEOUT_MS = 5000;

export interface Peer {
  send(text: string): void;
  close(): void;
}

export interface PeerHandlers {
  onText(text: string): void;
  onBinary(): void;
  onClose(): void;
}

export class WebSocketEndpoint {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();

  constructor(
    private readonly accept: (peer: Peer) => PeerHandlers,
    private readonly maxMessageBytes: number,
  ) {
    this.#server = net.createServer((socket) => this.#handshake(socket));
  }

  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(path, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #handshake(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => socket.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD_BYTES) refuse(socket, 431, 'request head too large');
        return;
      }
      socket.off('data', onData);
      const key = upgradeKey(head.subarray(0, end).toString('latin1'));
      if (key === null) {
        refuse(socket, 426, 'supervisor daemon: WebSocket only');
        return;
      }
      socket.setTimeout(0);
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`);
      this.#open(socket, head.subarray(end + 4));
    };
    socket.on('data', onData);
  }

  #open(socket: net.Socket, early: Buffer): void {
    const decoder = new FrameDecoder({ maxMessageBytes: this.maxMessageBytes, expectMasked: true });
    let closed = false;
    const close = (code = 1000, reason = ''): void => {
      if (closed) return;
      closed = true;
      socket.end(encodeFrame(OP_CLOSE, closePayload(code, reason), false));
    };
    const peer: Peer = {
      send: (text) => {
        if (!closed && socket.writable) socket.write(encodeFrame(OP_TEXT, Buffer.from(text, 'utf8'), false));
      },
      close: () => close(),
    };
    const handlers = this.accept(peer);
    socket.on('close', () => {
      closed = true;
      handlers.onClose();
    });
    const onData = (chunk: Buffer): void => {
      for (const message of decoder.push(chunk)) {
        switch (message.kind) {
          case 'text':
            handlers.onText(message.text);
            break;
          case 'binary':
            handlers.onBinary();
            break;
          case 'ping':
            if (!closed) socket.write(encodeFrame(OP_PONG, message.payload, false));
            break;
          case 'pong':
            break;
          case 'close':
            close();
            break;
          case 'error':
            close(message.code, message.reason);
            break;
        }
      }
    };
    socket.on('data', onData);
    if (early.length > 0) onData(early);
  }
}

/** The Sec-WebSocket-Key of a valid upgrade request, or null. */
function upgradeKey(head: string): string | null {
  const [requestLine, ...lines] = head.split('\r\n');
  if (!requestLine || !/^GET \S+ HTTP\/1\.1$/.test(requestLine)) return null;
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if (headers.get('upgrade')?.toLowerCase() !== 'websocket') return null;
  if (headers.get('sec-websocket-version') !== '13') return null;
  const key = headers.get('sec-websocket-key');
  return key && /^[A-Za-z0-9+/]{22}==$/.test(key) ? key : null;
}

function refuse(socket: net.Socket, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${status === 426 ? 'Upgrade Required' : 'Bad Request'}\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${text.length + 1}\r\n\r\n${text}\n`);
}
