/**
 * The CLI's WebSocket client: an HTTP upgrade on daemon.sock, then text frames (framing in
 * shared/ws-frames.ts). The peer is always our own daemon on a local socket.
 */
import net from 'node:net';
import { randomKeyBytes } from '../shared/sha1.js';
import { acceptKey, closePayload, encodeFrame, FrameDecoder, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT } from '../shared/ws-frames.js';

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface TextSocket {
  send(text: string): void;
  /** Asks the daemon for a pong; it arrives as activity, not as a message. */
  ping(): void;
  /** Closes the connection; onClose follows with no reason. */
  close(): void;
  onMessage: (text: string) => void;
  /** Something arrived from the daemon (a message, a ping or a pong): it is alive. */
  onActivity: () => void;
  /** Called once when the connection ends; `reason` says why, unless close() ended it. */
  onClose: (reason: DaemonClosed | Error | null) => void;
}

/** The daemon ended the connection with a close frame; `code` as RFC 6455 section 7.4.1. */
export class DaemonClosed extends Error {
  constructor(
    readonly code: number | null,
    readonly reason: string,
  ) {
    super(`the daemon closed the connection${reason ? `: ${reason}` : code !== null && code !== 1000 ? ` (code ${code})` : ''}`);
  }
}

/** An error of the handshake, with `code` for the launcher: ETIMEDOUT, EPROTO, EBUSY (too many connections). */
function handshakeError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

export function connectWebSocket(socketPath: string, timeoutMs: number): Promise<TextSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const key = randomKeyBytes(16).toString('base64');
    const decoder = new FrameDecoder({ maxMessageBytes: MAX_MESSAGE_BYTES, expectMasked: false });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(handshakeError(`no answer on ${socketPath} within ${timeoutMs} ms`, 'ETIMEDOUT'));
    }, timeoutMs);
    let head: Buffer | null = Buffer.alloc(0);
    let ended = false;

    const end = (reason: DaemonClosed | Error | null): void => {
      clearTimeout(timer);
      if (head !== null) {
        head = null;
        ended = true;
        socket.destroy();
        reject(reason ?? new Error('closed'));
        return;
      }
      if (ended) return;
      ended = true;
      if (reason === null || reason instanceof DaemonClosed) socket.end(encodeFrame(OP_CLOSE, closePayload(1000), true));
      socket.destroy();
      text.onClose(reason);
    };
    const text: TextSocket = {
      send: (message) => {
        if (!ended) socket.write(encodeFrame(OP_TEXT, Buffer.from(message, 'utf8'), true));
      },
      ping: () => {
        if (!ended) socket.write(encodeFrame(OP_PING, Buffer.alloc(0), true));
      },
      close: () => end(null),
      onMessage: () => undefined,
      onActivity: () => undefined,
      onClose: () => undefined,
    };

    socket.once('connect', () => {
      socket.write(
        'GET / HTTP/1.1\r\nHost: supervisor\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on('error', end);
    socket.on('close', () => end(handshakeError('the daemon closed the connection', 'ECONNRESET')));
    socket.on('data', (chunk: Buffer) => {
      let rest = chunk;
      if (head !== null) {
        head = Buffer.concat([head, chunk]);
        const headEnd = head.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const response = head.subarray(0, headEnd).toString('latin1');
        rest = head.subarray(headEnd + 4);
        if (/^HTTP\/1\.1 503 /.test(response)) {
          const body = rest.toString('utf8').trim().replace(/^supervisor daemon: /, '');
          end(handshakeError(`the daemon refused the connection: ${body || 'busy'}`, 'EBUSY'));
          return;
        }
        if (!/^HTTP\/1\.1 101 /.test(response) || !response.includes(acceptKey(key))) {
          end(handshakeError(`not a supervisor daemon (${response.split('\r\n')[0]})`, 'EPROTO'));
          return;
        }
        head = null;
        clearTimeout(timer);
        resolve(text);
      }
      for (const message of decoder.push(rest)) {
        if (ended) return;
        text.onActivity();
        if (message.kind === 'text') text.onMessage(message.text);
        else if (message.kind === 'ping') socket.write(encodeFrame(OP_PONG, message.payload, true));
        else if (message.kind === 'close') end(new DaemonClosed(message.code, message.reason));
        else if (message.kind === 'error') end(new DaemonClosed(message.code, `bad frame from the daemon: ${message.reason}`));
      }
    });
  });
}
