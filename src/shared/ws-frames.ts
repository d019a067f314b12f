/**
 * WebSocket framing (RFC 6455 section 5) for both ends of the control socket: encoding, and an
 * incremental decoder that enforces a size limit and reports protocol errors instead of
 * throwing, because the daemon decodes bytes from anyone who can open its socket.
 *
 * Written here rather than taken from `ws`: loading `ws` (with http, https, tls and zlib behind
 * it) costs the CLI 15-45 ms per command and the daemon about 5 MB of resident memory, and we
 * need only text frames, ping/pong and close between our own two programs.
 */
import { randomKeyBytes, sha1Base64 } from './sha1.js';

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function acceptKey(key: string): string {
  return sha1Base64(key + HANDSHAKE_GUID);
}

/** A frame; client frames must be masked, server frames must not be. */
export function encodeFrame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const maskLength = masked ? 4 : 0;
  const frame = Buffer.allocUnsafe(headerLength + maskLength + length);
  frame[0] = 0x80 | opcode;
  const maskBit = masked ? 0x80 : 0;
  if (length < 126) frame[1] = maskBit | length;
  else if (length < 65536) {
    frame[1] = maskBit | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = maskBit | 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  if (!masked) {
    payload.copy(frame, headerLength);
    return frame;
  }
  const mask = randomKeyBytes(4);
  mask.copy(frame, headerLength);
  const start = headerLength + 4;
  for (let i = 0; i < length; i++) frame[start + i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return frame;
}

export type DecodedMessage =
  | { kind: 'text'; text: string }
  | { kind: 'binary' }
  | { kind: 'ping'; payload: Buffer }
  | { kind: 'pong' }
  | { kind: 'close' }
  /** The peer broke the protocol; `code` is the close code to answer with. */
  | { kind: 'error'; code: number; reason: string };

/** Decodes frames as bytes arrive; reassembles fragmented messages up to maxMessageBytes. */
export class FrameDecoder {
  #buffer: Buffer = Buffer.alloc(0);
  #fragments: Buffer[] = [];
  #fragmentBytes = 0;
  #fragmentOpcode = -1;
  #failed = false;

  constructor(
    private readonly options: { maxMessageBytes: number; expectMasked: boolean },
  ) {}

  push(chunk: Buffer): DecodedMessage[] {
    if (this.#failed) return [];
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const out: DecodedMessage[] = [];
    for (;;) {
      const message = this.#next();
      if (message === null) break;
      if (message !== undefined) out.push(message);
      if (message?.kind === 'error') {
        this.#failed = true;
        break;
      }
    }
    return out;
  }

  /** One frame: null when more bytes are needed, undefined for a fragment that completes nothing. */
  #next(): DecodedMessage | null | undefined {
    const buffer = this.#buffer;
    if (buffer.length < 2) return null;
    const first = buffer[0] as number;
    const second = buffer[1] as number;
    const fin = (first & 0x80) !== 0;
    const opcode = first & 0x0f;
    if ((first & 0x70) !== 0) return fail(1002, 'reserved bits set');
    const masked = (second & 0x80) !== 0;
    if (masked !== this.options.expectMasked) return fail(1002, masked ? 'unexpected mask' : 'frames must be masked');
    let length = second & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (buffer.length < 4) return null;
      length = buffer.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (buffer.length < 10) return null;
      const big = buffer.readBigUInt64BE(2);
      if (big > BigInt(this.options.maxMessageBytes)) return fail(1009, 'message too big');
      length = Number(big);
      offset = 10;
    }
    if (length > this.options.maxMessageBytes) return fail(1009, 'message too big');
    const isControl = opcode >= 0x8;
    if (isControl && (length > 125 || !fin)) return fail(1002, 'bad control frame');
    const maskOffset = offset;
    if (masked) offset += 4;
    if (buffer.length < offset + length) return null;
    let payload = buffer.subarray(offset, offset + length);
    if (masked) {
      payload = Buffer.from(payload);
      for (let i = 0; i < length; i++) payload[i] = (payload[i] as number) ^ (buffer[maskOffset + (i & 3)] as number);
    }
    this.#buffer = buffer.subarray(offset + length);

    switch (opcode) {
      case OP_PING:
        return { kind: 'ping', payload };
      case OP_PONG:
        return { kind: 'pong' };
      case OP_CLOSE:
        return { kind: 'close' };
      case OP_TEXT:
      case OP_BINARY:
        if (this.#fragmentOpcode !== -1) return fail(1002, 'new message inside a fragmented one');
        if (fin) return opcode === OP_TEXT ? { kind: 'text', text: payload.toString('utf8') } : { kind: 'binary' };
        this.#fragmentOpcode = opcode;
        return this.#addFragment(payload, false);
      case OP_CONTINUATION:
        if (this.#fragmentOpcode === -1) return fail(1002, 'continuation without a message');
        return this.#addFragment(payload, fin);
      default:
        return fail(1002, `unknown opcode ${opcode}`);
    }
  }

  #addFragment(payload: Buffer, fin: boolean): DecodedMessage | undefined {
    this.#fragmentBytes += payload.length;
    if (this.#fragmentBytes > this.options.maxMessageBytes) return fail(1009, 'message too big');
    this.#fragments.push(payload);
    if (!fin) return undefined;
    const whole = Buffer.concat(this.#fragments);
    const opcode = this.#fragmentOpcode;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#fragmentOpcode = -1;
    return opcode === OP_TEXT ? { kind: 'text', text: whole.toString('utf8') } : { kind: 'binary' };
  }
}

function fail(code: number, reason: string): DecodedMessage {
  return { kind: 'error', code, reason };
}

/** A close frame's payload: the status code, then the reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const reasonBytes = Buffer.from(reason.slice(0, 100), 'utf8');
  const payload = Buffer.allocUnsafe(2 + reasonBytes.length);
  payload.writeUInt16BE(code, 0);
  reasonBytes.copy(payload, 2);
  return payload;
}
