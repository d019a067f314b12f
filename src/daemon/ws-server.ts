/**
 * The daemon's WebSocket endpoint on daemon.sock: the HTTP upgrade handshake, then text
 * messages. Anything else (a plain HTTP request, garbage, an unmasked or oversized frame)
 * gets a short answer and a closed connection; nothing a peer sends can throw out of here.
 *
 * Every byte held for a peer has a bound (ControlLimits): connections are counted and capped,
 * the handshake is timed, partially received messages have a budget across all connections,
 * and output a peer leaves unread makes the daemon stop reading it, then drop what may be
 * dropped, then close it.
 */
import net from 'node:net';
import type { ControlLimits } from '../shared/control-limits.js';
import { acceptKey, closePayload, encodeFrame, FrameDecoder, OP_CLOSE, OP_PONG, OP_TEXT } from '../shared/ws-frames.js';

/** Partial input above which a connection is read one chunk per event-loop turn. */
const YIELD_AFTER_BYTES = 256 * 1024;

/** How long a connection we are closing may take to go; then it is destroyed. */
const CLOSE_GRACE_MS = 2000;

/** Close codes (RFC 6455 section 7.4.1). */
export const CLOSE_NORMAL = 1000;
const CLOSE_GOING_AWAY = 1001;
const CLOSE_POLICY = 1008;
const CLOSE_TRY_AGAIN_LATER = 1013;

export interface Peer {
  /** It has left more than outboundSoftBytes unread: what can be dropped should be. */
  readonly backlogged: boolean;
  /** Sends a message that must arrive; a peer that left outboundHardBytes unread is closed (1008) instead. */
  send(text: string): void;
  close(code?: number, reason?: string): void;
}

export interface PeerHandlers {
  onText(text: string): void;
  onBinary(): void;
  /** The peer has read everything sent to it, after a backlog. */
  onDrain(): void;
  onClose(): void;
}

interface EndpointStats {
  /** Connections open now, handshaking ones included. */
  open: number;
  /** Refused because maxConnections were open. */
  refused: number;
  /** Closed for leaving outboundHardBytes unread (1008). */
  closedSlow: number;
  /** Closed to keep the daemon within a byte budget (1013). */
  closedOverBudget: number;
}

/** One connection as the endpoint sees it; `decoder` is null until the upgrade. */
interface Connection {
  readonly socket: net.Socket;
  decoder: FrameDecoder | null;
  closing: boolean;
  close(code: number, reason: string): void;
}

export class WebSocketEndpoint {
  readonly #server: net.Server;
  readonly #connections = new Set<Connection>();
  /** Bytes of partially received messages, all connections together. */
  #inboundBytes = 0;
  #refused = 0;
  #closedSlow = 0;
  #closedOverBudget = 0;

  constructor(
    private readonly accept: (peer: Peer) => PeerHandlers,
    private readonly limits: ControlLimits,
  ) {
    this.#server = net.createServer((socket) => this.#connect(socket));
  }

  get stats(): EndpointStats {
    return { open: this.#connections.size, refused: this.#refused, closedSlow: this.#closedSlow, closedOverBudget: this.#closedOverBudget };
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

  /** Tells every client the daemon is stopping (1001), then drops them; resolves once all are gone. */
  close(): Promise<void> {
    for (const { socket, decoder } of this.#connections) {
      // A close frame written now reaches the kernel at once unless the peer stopped reading.
      if (decoder && !socket.destroyed) socket.end(encodeFrame(OP_CLOSE, closePayload(CLOSE_GOING_AWAY, 'the daemon is stopping'), false));
      socket.destroy();
    }
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #connect(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    if (this.#connections.size >= this.limits.maxConnections) {
      this.#refused += 1;
      endSoon(socket, httpReply(503, `supervisor daemon: too many control connections (${this.limits.maxConnections} open)`));
      return;
    }
    const connection: Connection = {
      socket,
      decoder: null,
      closing: false,
      close: () => socket.destroy(),
    };
    this.#connections.add(connection);
    socket.on('close', () => {
      this.#connections.delete(connection);
      if (connection.decoder) {
        this.#inboundBytes -= connection.decoder.buffered;
        connection.decoder.discard();
      }
    });
    this.#handshake(connection);
  }

  #handshake(connection: Connection): void {
    const { socket } = connection;
    // A deadline for the whole handshake, not an inactivity timeout a trickle could keep alive.
    const deadline = setTimeout(() => socket.destroy(), this.limits.handshakeTimeoutMs);
    socket.once('close', () => clearTimeout(deadline));
    const parts: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer): void => {
      parts.push(chunk);
      received += chunk.length;
      const head = parts.length === 1 ? chunk : Buffer.concat(parts, received);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received > this.limits.maxHeadBytes) {
          socket.off('data', onData);
          clearTimeout(deadline);
          endSoon(socket, httpReply(431, 'request head too large'));
        }
        return;
      }
      socket.off('data', onData);
      clearTimeout(deadline);
      const key = end <= this.limits.maxHeadBytes ? upgradeKey(head.subarray(0, end).toString('latin1')) : null;
      if (key === null) {
        endSoon(socket, httpReply(426, 'supervisor daemon: WebSocket only'));
        return;
      }
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`);
      this.#open(connection, head.subarray(end + 4));
    };
    socket.on('data', onData);
  }

  #open(connection: Connection, early: Buffer): void {
    const { socket } = connection;
    const limits = this.limits;
    const decoder = new FrameDecoder({ maxMessageBytes: limits.maxMessageBytes, expectMasked: true });
    connection.decoder = decoder;
    // A peer that does not read what it gets is not read either: its requests wait in the kernel.
    const updateReading = (): void => {
      if (connection.closing) return;
      if (socket.writableLength > limits.outboundSoftBytes) socket.pause();
      else socket.resume();
    };
    connection.close = (code, reason) => {
      if (connection.closing) return;
      connection.closing = true;
      this.#inboundBytes -= decoder.buffered;
      decoder.discard();
      // A peer closed for breaking a limit gets nothing more read from it: reading and
      // discarding what it keeps sending (up to a whole huge frame) would cost CPU and churn
      // memory for nothing. Only a normal close waits for the peer's own close.
      const normal = code === CLOSE_NORMAL || code === CLOSE_GOING_AWAY;
      endSoon(socket, encodeFrame(OP_CLOSE, closePayload(code, reason), false), normal);
    };
    const peer: Peer = {
      get backlogged() {
        return socket.writableLength > limits.outboundSoftBytes;
      },
      send: (text) => {
        if (connection.closing || !socket.writable) return;
        if (socket.writableLength > limits.outboundHardBytes) {
          this.#closedSlow += 1;
          connection.close(CLOSE_POLICY, `not reading: over ${limits.outboundHardBytes} bytes unread`);
          return;
        }
        socket.write(encodeFrame(OP_TEXT, Buffer.from(text, 'utf8'), false));
        if (socket.writableLength > limits.outboundSoftBytes) {
          updateReading();
          this.#keepOutboundBudget();
        }
      },
      close: (code = CLOSE_NORMAL, reason = '') => connection.close(code, reason),
    };
    const handlers = this.accept(peer);
    socket.on('close', () => handlers.onClose());
    socket.on('drain', () => {
      updateReading();
      if (!connection.closing) handlers.onDrain();
    });
    const onData = (chunk: Buffer): void => {
      if (connection.closing) return;
      const before = decoder.buffered;
      const messages = decoder.push(chunk);
      this.#inboundBytes += decoder.buffered - before;
      if (this.#inboundBytes > limits.inboundBudgetBytes) this.#keepInboundBudget();
      if (!connection.closing && decoder.buffered > YIELD_AFTER_BYTES) {
        // libuv reads a socket up to 32 times per loop turn while a sender keeps it full:
        // many large senders at once would make each turn long and every other client
        // wait. A connection in the middle of a large message gives way after each chunk.
        socket.pause();
        setImmediate(updateReading);
      }
      for (const message of messages) {
        if (connection.closing) return;
        switch (message.kind) {
          case 'text':
            handlers.onText(message.text);
            break;
          case 'binary':
            handlers.onBinary();
            break;
          case 'ping':
            socket.write(encodeFrame(OP_PONG, message.payload, false));
            break;
          case 'pong':
            break;
          case 'close':
            connection.close(CLOSE_NORMAL, '');
            break;
          case 'error':
            connection.close(message.code, message.reason);
            break;
        }
      }
    };
    socket.on('data', onData);
    if (early.length > 0) onData(early);
  }

  /** Closes the connections holding the most partial input until the total fits the budget. */
  #keepInboundBudget(): void {
    while (this.#inboundBytes > this.limits.inboundBudgetBytes) {
      const largest = this.#largest((c) => c.decoder?.buffered ?? 0);
      if (!largest) return;
      this.#closedOverBudget += 1;
      largest.close(CLOSE_TRY_AGAIN_LATER, 'daemon busy: too much partial input on its connections');
    }
  }

  /** Closes the connections with the most unread output until the total fits the budget. */
  #keepOutboundBudget(): void {
    let total = 0;
    for (const c of this.#connections) if (!c.closing) total += c.socket.writableLength;
    while (total > this.limits.outboundBudgetBytes) {
      const largest = this.#largest((c) => c.socket.writableLength);
      if (!largest) return;
      total -= largest.socket.writableLength;
      this.#closedOverBudget += 1;
      largest.close(CLOSE_TRY_AGAIN_LATER, 'daemon busy: too much unread output on its connections');
    }
  }

  /** The open connection with the largest `size` (the newest of equals), if any holds anything. */
  #largest(size: (c: Connection) => number): Connection | null {
    let largest: Connection | null = null;
    let largestSize = 0;
    for (const c of this.#connections) {
      if (c.closing || !c.decoder) continue;
      const s = size(c);
      if (s > 0 && s >= largestSize) {
        largest = c;
        largestSize = s;
      }
    }
    return largest;
  }
}

/**
 * Ends a connection after `last`, and destroys it if the peer has not gone within
 * CLOSE_GRACE_MS (it may not be reading at all). Meanwhile whatever else the peer sends is
 * read and discarded, or (readMore false) left unread.
 */
function endSoon(socket: net.Socket, last: Buffer | string, readMore = true): void {
  if (readMore) {
    socket.on('data', () => undefined);
    socket.resume();
  } else {
    socket.pause();
  }
  socket.end(last);
  const grace = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  socket.once('close', () => clearTimeout(grace));
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

const STATUS_TEXT: Record<number, string> = { 426: 'Upgrade Required', 431: 'Request Header Fields Too Large', 503: 'Service Unavailable' };

function httpReply(status: number, text: string): string {
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Bad Request'}\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(text) + 1}\r\n\r\n${text}\n`;
}
