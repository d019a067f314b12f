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

type DecodedMessage =
  | { kind: 'text'; text: string }
  | { kind: 'binary' }
  | { kind: 'ping'; payload: Buffer }
  | { kind: 'pong' }
  /** The peer's close code and reason, when it gave them. */
  | { kind: 'close'; code: number | null; reason: string }
  /** The peer broke the protocol; `code` is the close code to answer with. */
  | { kind: 'error'; code: number; reason: string };

/** Decodes frames as bytes arrive; reassembles fragmented messages up to maxMessageBytes. */
export class FrameDecoder {
  /**
   * Bytes received and not yet decoded, as they arrived. A frame is joined once, when all of
   * it is here, so decoding is linear in the frame size however small the chunks are.
   */
  #chunks: Buffer[] = [];
  #chunkBytes = 0;
  #fragments: Buffer[] = [];
  #fragmentBytes = 0;
  #fragmentOpcode = -1;
  #failed = false;

  constructor(
    private readonly options: { maxMessageBytes: number; expectMasked: boolean },
  ) {}

  /** Bytes held for messages not yet complete: a partial frame and the fragments before it. */
  get buffered(): number {
    return this.#chunkBytes + this.#fragmentBytes;
  }

  /** Forgets everything held and ignores whatever comes next (the connection is closing). */
  discard(): void {
    this.#failed = true;
    this.#chunks = [];
    this.#chunkBytes = 0;
    this.#fragments = [];
    this.#fragmentBytes = 0;
  }

  push(chunk: Buffer): DecodedMessage[] {
    if (this.#failed) return [];
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#chunkBytes += chunk.length;
    }
    const out: DecodedMessage[] = [];
    for (;;) {
      const message = this.#next();
      if (message === null) break;
      if (message !== undefined) out.push(message);
      if (message?.kind === 'error') {
        this.discard();
        break;
      }
    }
    return out;
  }

  /** One frame: null when more bytes are needed, undefined for a fragment that completes nothing. */
  #next(): DecodedMessage | null | undefined {
    if (this.#chunkBytes < 2) return null;
    const header = this.#peek(14);
    const first = header[0] as number;
    const second = header[1] as number;
    const fin = (first & 0x80) !== 0;
    const opcode = first & 0x0f;
    if ((first & 0x70) !== 0) return fail(1002, 'reserved bits set');
    const masked = (second & 0x80) !== 0;
    if (masked !== this.options.expectMasked) return fail(1002, masked ? 'unexpected mask' : 'frames must be masked');
    let length = second & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (header.length < 4) return null;
      length = header.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (header.length < 10) return null;
      const big = header.readBigUInt64BE(2);
      if (big > BigInt(this.options.maxMessageBytes)) return fail(1009, 'message too big');
      length = Number(big);
      offset = 10;
    }
    // Fragments count towards the limit as soon as their length is known, not once received.
    const messageBytes = opcode === OP_CONTINUATION ? this.#fragmentBytes + length : length;
    if (messageBytes > this.options.maxMessageBytes) return fail(1009, 'message too big');
    const isControl = opcode >= 0x8;
    if (isControl && (length > 125 || !fin)) return fail(1002, 'bad control frame');
    const maskOffset = offset;
    if (masked) offset += 4;
    if (this.#chunkBytes < offset + length) return null;
    const frame = this.#take(offset + length);
    const payload = frame.subarray(offset);
    if (masked) unmask(payload, frame.subarray(maskOffset, maskOffset + 4));

    switch (opcode) {
      case OP_PING:
        return { kind: 'ping', payload };
      case OP_PONG:
        return { kind: 'pong' };
      case OP_CLOSE:
        return {
          kind: 'close',
          code: payload.length >= 2 ? payload.readUInt16BE(0) : null,
          reason: payload.length > 2 ? payload.subarray(2).toString('utf8') : '',
        };
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

  /** Up to `count` bytes from the front, without consuming them (joins at most 14 bytes). */
  #peek(count: number): Buffer {
    const head = this.#chunks[0] as Buffer;
    if (head.length >= count || this.#chunks.length === 1) return head;
    const parts: Buffer[] = [];
    let have = 0;
    for (const chunk of this.#chunks) {
      parts.push(chunk.subarray(0, count - have));
      have += Math.min(chunk.length, count - have);
      if (have >= count) break;
    }
    return Buffer.concat(parts, have);
  }

  /** Consumes `count` bytes (all present) from the front as one buffer: a view when they lie in one chunk. */
  #take(count: number): Buffer {
    this.#chunkBytes -= count;
    const head = this.#chunks[0] as Buffer;
    if (head.length >= count) {
      if (head.length === count) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(count);
      return head.subarray(0, count);
    }
    // Whole chunks first, then part of the next one; one splice, as shift() per chunk is quadratic.
    const parts: Buffer[] = [];
    let have = 0;
    let used = 0;
    while (have < count) {
      const chunk = this.#chunks[used] as Buffer;
      const need = count - have;
      if (chunk.length <= need) {
        parts.push(chunk);
        have += chunk.length;
        used += 1;
      } else {
        parts.push(chunk.subarray(0, need));
        this.#chunks[used] = chunk.subarray(need);
        have = count;
      }
    }
    this.#chunks.splice(0, used);
    return Buffer.concat(parts, count);
  }

  #addFragment(payload: Buffer, fin: boolean): DecodedMessage | undefined {
    this.#fragmentBytes += payload.length;
    this.#fragments.push(payload);
    if (!fin) return undefined;
    const whole = Buffer.concat(this.#fragments, this.#fragmentBytes);
    const opcode = this.#fragmentOpcode;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#fragmentOpcode = -1;
    return opcode === OP_TEXT ? { kind: 'text', text: whole.toString('utf8') } : { kind: 'binary' };
  }
}

/**
 * Unmasks in place: the bytes are ours (a socket chunk or a buffer joined for this frame).
 * Four bytes at a time where the view is aligned, since the daemon runs without an
 * optimising compiler and a byte loop over an 8 MiB frame is slow there.
 */
function unmask(payload: Buffer, mask: Buffer): void {
  const length = payload.length;
  let i = 0;
  if (length >= 64) {
    // Bytes up to a 4-byte boundary, then words with the mask turned to match.
    const lead = (4 - (payload.byteOffset % 4)) % 4;
    for (; i < lead; i++) payload[i] = (payload[i] as number) ^ (mask[i & 3] as number);
    const turned = Uint8Array.from({ length: 4 }, (_, k) => mask[(lead + k) & 3] as number);
    const word = new Uint32Array(turned.buffer)[0] as number; // in the platform's byte order, as `words`
    const words = new Uint32Array(payload.buffer, payload.byteOffset + lead, (length - lead) >>> 2);
    for (let w = 0; w < words.length; w++) words[w] = (words[w] as number) ^ word;
    i = lead + (words.length << 2);
  }
  for (; i < length; i++) payload[i] = (payload[i] as number) ^ (mask[i & 3] as number);
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
