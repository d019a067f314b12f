/**
 * The CLI's WebSocket client: an HTTP upgrade on daemon.sock, then text frames (framing in
 * shared/ws-frames.ts). The peer is always our own daemon on a local socket.
 */
import net from 'node:net';
import { randomKeyBytes } from '../shared/sha1.js';
import { acceptKey, closePayload, encodeFrame, FrameDecoder, OP_CLOSE, OP_PONG, OP_TEXT } from '../shared/ws-frames.js';

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface TextSocket {
  send(text: string): void;
  close(): void;
  onMessage: (text: string) => void;
  onClose: (reason: Error | null) => void;
}

export function connectWebSocket(socketPath: string, timeoutMs: number): Promise<TextSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const key = randomKeyBytes(16).toString('base64');
    const decoder = new FrameDecoder({ maxMessageBytes: MAX_MESSAGE_BYTES, expectMasked: false });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`no answer on ${socketPath} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    let head: Buffer | null = Buffer.alloc(0);
    let closed = false;

    const text: TextSocket = {
      send: (message) => socket.write(encodeFrame(OP_TEXT, Buffer.from(message, 'utf8'), true)),
      close: () => {
        if (closed) return;
        closed = true;
        socket.end(encodeFrame(OP_CLOSE, closePayload(1000), true));
        socket.destroy();
      },
      onMessage: () => undefined,
      onClose: () => undefined,
    };
    const fail = (error: Error): void => {
      clearTimeout(timer);
      if (head !== null) reject(error);
      else if (!closed) {
        closed = true;
        text.onClose(error);
      }
    };

    socket.once('connect', () => {
      socket.write(
        'GET / HTTP/1.1\r\nHost: supervisor\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on('error', fail);
    socket.on('close', () => fail(Object.assign(new Error('the daemon closed the connection'), { code: 'ECONNRESET' })));
    socket.on('data', (chunk: Buffer) => {
      let rest = chunk;
      if (head !== null) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const response = head.subarray(0, end).toString('latin1');
        rest = head.subarray(end + 4);
        if (!/^HTTP\/1\.1 101 /.test(response) || !response.includes(acceptKey(key))) {
          socket.destroy();
          fail(Object.assign(new Error(`not a supervisor daemon (${response.split('\r\n')[0]})`), { code: 'EPROTO' }));
          return;
        }
        head = null;
        clearTimeout(timer);
        resolve(text);
      }
      for (const message of decoder.push(rest)) {
        if (message.kind === 'text') text.onMessage(message.text);
        else if (message.kind === 'ping') socket.write(encodeFrame(OP_PONG, message.payload, true));
        else if (message.kind === 'close' || message.kind === 'error') text.close();
      }
    });
  });
}
