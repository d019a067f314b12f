import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_TEXT } from '../../src/shared/ws-frames.js';

const server = (max = 1024): FrameDecoder => new FrameDecoder({ maxMessageBytes: max, expectMasked: true });

function frame(opcode: number, payload: Buffer, { fin = true, masked = true } = {}): Buffer {
  const out = encodeFrame(opcode, payload, masked);
  if (!fin) out[0] = (out[0] as number) & 0x7f;
  return out;
}

describe('WebSocket framing', () => {
  it('round-trips text of every length class, masked and unmasked', () => {
    for (const length of [0, 1, 125, 126, 65535, 65536, 200_000]) {
      const text = 'x'.repeat(length);
      for (const masked of [true, false]) {
        const decoder = new FrameDecoder({ maxMessageBytes: 1 << 20, expectMasked: masked });
        expect(decoder.push(encodeFrame(OP_TEXT, Buffer.from(text), masked))).toEqual([{ kind: 'text', text }]);
      }
    }
  });

  it('decodes frames split at every byte boundary and several frames in one chunk', () => {
    const bytes = Buffer.concat([frame(OP_TEXT, Buffer.from('hello')), frame(OP_TEXT, Buffer.from('world'))]);
    const decoder = server();
    const got = [];
    for (const byte of bytes) got.push(...decoder.push(Buffer.from([byte])));
    expect(got).toEqual([{ kind: 'text', text: 'hello' }, { kind: 'text', text: 'world' }]);
    expect(server().push(bytes)).toHaveLength(2);
  });

  it('reassembles fragmented messages with control frames in between', () => {
    const decoder = server();
    const got = decoder.push(
      Buffer.concat([
        frame(OP_TEXT, Buffer.from('hel'), { fin: false }),
        frame(OP_PING, Buffer.from('p')),
        frame(OP_CONTINUATION, Buffer.from('lo')),
      ]),
    );
    expect(got).toEqual([{ kind: 'ping', payload: Buffer.from('p') }, { kind: 'text', text: 'hello' }]);
  });

  it('reports binary and close frames', () => {
    expect(server().push(frame(OP_BINARY, Buffer.from([1, 2])))).toEqual([{ kind: 'binary' }]);
    expect(server().push(frame(OP_CLOSE, Buffer.from([3, 232])))).toEqual([{ kind: 'close', code: 1000, reason: '' }]);
    expect(server().push(frame(OP_CLOSE, Buffer.from([3, 241, 0x69, 0x64, 0x6c, 0x65])))).toEqual([{ kind: 'close', code: 1009, reason: 'idle' }]);
    expect(server().push(frame(OP_CLOSE, Buffer.alloc(0)))).toEqual([{ kind: 'close', code: null, reason: '' }]);
  });

  it.each([
    ['an unmasked client frame', frame(OP_TEXT, Buffer.from('a'), { masked: false }), 1002],
    ['reserved bits', Buffer.from([0xf1, 0x80, 0, 0, 0, 0]), 1002],
    ['an unknown opcode', frame(0x3, Buffer.from('a')), 1002],
    ['a fragmented control frame', frame(OP_PING, Buffer.from('a'), { fin: false }), 1002],
    ['a continuation without a message', frame(OP_CONTINUATION, Buffer.from('a')), 1002],
    ['a message over the limit', frame(OP_TEXT, Buffer.alloc(2000)), 1009],
    ['a 64-bit length over the limit', Buffer.from([0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 1009],
  ])('rejects %s with close code %i and then ignores the connection', (_what, bytes, code) => {
    const decoder = server();
    const [first, ...rest] = decoder.push(bytes);
    expect(first).toMatchObject({ kind: 'error', code });
    expect(rest).toEqual([]);
    expect(decoder.push(frame(OP_TEXT, Buffer.from('later')))).toEqual([]);
  });

  it('rejects fragments that add up to more than the limit', () => {
    const decoder = server(10);
    const got = decoder.push(Buffer.concat([frame(OP_TEXT, Buffer.alloc(8), { fin: false }), frame(OP_CONTINUATION, Buffer.alloc(8))]));
    expect(got).toEqual([{ kind: 'error', code: 1009, reason: 'message too big' }]);
  });

  it('reassembles a large masked frame cut into chunks of every alignment, and holds no bytes after it', () => {
    const text = Array.from({ length: 70_001 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    const bytes = Buffer.concat([Buffer.from([0x89, 0x80, 1, 2, 3, 4]), frame(OP_TEXT, Buffer.from(text))]);
    for (const size of [7, 4093, 65_536]) {
      const decoder = server(1 << 20);
      const got = [];
      for (let at = 0; at < bytes.length; at += size) {
        // A copy at an odd offset, so the payload view is unaligned as often as not.
        const chunk = Buffer.alloc(size + 1).subarray(1, 1 + Math.min(size, bytes.length - at));
        bytes.copy(chunk, 0, at, at + chunk.length);
        got.push(...decoder.push(chunk));
      }
      expect(got.map((m) => m.kind)).toEqual(['ping', 'text']);
      expect(got[1]).toEqual({ kind: 'text', text });
      expect(decoder.buffered).toBe(0);
    }
  });

  it('counts the bytes of an incomplete frame and of the fragments before it', () => {
    const decoder = server(1 << 20);
    decoder.push(frame(OP_TEXT, Buffer.alloc(100), { fin: false }));
    expect(decoder.buffered).toBe(100);
    const next = frame(OP_CONTINUATION, Buffer.alloc(1000));
    decoder.push(next.subarray(0, 500));
    expect(decoder.buffered).toBe(600);
    expect(decoder.push(next.subarray(500))).toEqual([{ kind: 'text', text: '\0'.repeat(1100) }]);
    expect(decoder.buffered).toBe(0);
  });

  it('refuses a fragment that would go over the limit as soon as its header arrives', () => {
    const decoder = server(1000);
    decoder.push(frame(OP_TEXT, Buffer.alloc(600), { fin: false }));
    const header = frame(OP_CONTINUATION, Buffer.alloc(600)).subarray(0, 8);
    expect(decoder.push(header)).toEqual([{ kind: 'error', code: 1009, reason: 'message too big' }]);
    expect(decoder.buffered).toBe(0);
  });

  it('discard() forgets what it holds and ignores what follows', () => {
    const decoder = server(1 << 20);
    decoder.push(frame(OP_TEXT, Buffer.alloc(5000)).subarray(0, 3000));
    expect(decoder.buffered).toBe(3000);
    decoder.discard();
    expect(decoder.buffered).toBe(0);
    expect(decoder.push(frame(OP_TEXT, Buffer.from('x')))).toEqual([]);
  });
});
