/**
 * A minimal WebSocket client (RFC 6455) for the CLI: text frames, ping/pong and close, no
 * extensions. The daemon uses `ws`; the client does not, because loading `ws` with the http,
 * https, tls and zlib modules it pulls in costs the CLI 15-45 ms per command (bench/cli.mjs),
 * which is most of its budget. This file is small because the peer is always our own daemon
 * on a local socket: no proxies, no compression, no fragmentation on its side.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

export interface TextSocket {
  send(text: string): void;
  close(): void;
  onMessage: (text: string) => void;
  onClose: (reason: Error | null) => void;
}

export function connectWebSocket(socketPath: string, timeoutMs: number): Promise<TextSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`no answer on ${socketPath} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    let handshakeDone = false;
    let buffer: Buffer = Buffer.alloc(0);
    let fragments: Buffer[] = [];
    let closed = false;

    const text: TextSocket = {
      send: (message) => socket.write(encodeFrame(OP_TEXT, Buffer.from(message, 'utf8'))),
      close: () => {
        if (closed) return;
        closed = true;
        socket.end(encodeFrame(OP_CLOSE, Buffer.from([0x03, 0xe8])));
        socket.destroy();
      },
      onMessage: () => undefined,
      onClose: () => undefined,
    };

    socket.once('connect', () => {
      socket.write(
        'GET / HTTP/1.1\r\nHost: supervisor\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (!handshakeDone) reject(error);
      else if (!closed) {
        closed = true;
        text.onClose(error);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!handshakeDone) reject(Object.assign(new Error('the daemon closed the connection'), { code: 'ECONNRESET' }));
      else if (!closed) {
        closed = true;
        text.onClose(null);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      if (!handshakeDone) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = buffer.subarray(0, buffer.indexOf('\r\n')).toString('latin1');
        if (!/^HTTP\/1\.1 101 /.test(status)) {
          socket.destroy();
          clearTimeout(timer);
          reject(Object.assign(new Error(`not a supervisor daemon (${status})`), { code: 'EPROTO' }));
          return;
        }
        handshakeDone = true;
        clearTimeout(timer);
        buffer = buffer.subarray(end + 4);
        resolve(text);
      }
      for (;;) {
        const frame = decodeFrame(buffer);
        if (!frame) return;
        buffer = buffer.subarray(frame.length);
        if (frame.opcode === OP_PING) socket.write(encodeFrame(OP_PONG, frame.payload));
        else if (frame.opcode === OP_CLOSE) text.close();
        else if (frame.opcode === OP_TEXT || frame.opcode === OP_CONTINUATION) {
          fragments.push(frame.payload);
          if (frame.fin) {
            const message = Buffer.concat(fragments).toString('utf8');
            fragments = [];
            text.onMessage(message);
          }
        }
      }
    });
  });
}

function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + 4 + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) frame[1] = 0x80 | length;
  else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  // Client frames must be masked (RFC 6455 5.3).
  const mask = randomBytes(4);
  mask.copy(frame, headerLength);
  for (let i = 0; i < length; i++) frame[headerLength + 4 + i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return frame;
}

function decodeFrame(buffer: Buffer): { fin: boolean; opcode: number; payload: Buffer; length: number } | null {
  if (buffer.length < 2) return null;
  const first = buffer[0] as number;
  const second = buffer[1] as number;
  let length = second & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buffer.length < 4) return null;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return null;
    length = Number(buffer.readBigUInt64BE(2));
    offset = 10;
  }
  const masked = (second & 0x80) !== 0;
  const maskOffset = offset;
  if (masked) offset += 4;
  if (buffer.length < offset + length) return null;
  let payload = buffer.subarray(offset, offset + length);
  if (masked) {
    payload = Buffer.from(payload);
    for (let i = 0; i < length; i++) payload[i] = (payload[i] as number) ^ (buffer[maskOffset + (i & 3)] as number);
  }
  return { fin: (first & 0x80) !== 0, opcode: first & 0x0f, payload, length: offset + length };
}
