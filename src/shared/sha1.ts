/**
 * SHA-1 of a short string, for the WebSocket handshake's Sec-WebSocket-Accept (RFC 6455 4.2.2)
 * and nothing else: it is not used for security here, only to prove that the peer speaks
 * WebSocket. Written out so that the CLI does not load node:crypto for every command (about
 * 3-4 ms of its start-up on this machine); checked against node:crypto by a unit test.
 */
import { padMessage } from './hash-padding.js';
export function sha1Base64(text: string): string {
  const { message, blocks } = padMessage(text);

  const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
  const w = new Array<number>(80);
  for (let block = 0; block < blocks; block++) {
    for (let i = 0; i < 16; i++) w[i] = message.readUInt32BE(block * 64 + i * 4);
    for (let i = 16; i < 80; i++) {
      const x = (w[i - 3] as number) ^ (w[i - 8] as number) ^ (w[i - 14] as number) ^ (w[i - 16] as number);
      w[i] = (x << 1) | (x >>> 31);
    }
    let [a, b, c, d, e] = h as [number, number, number, number, number];
    for (let i = 0; i < 80; i++) {
      const [f, k] = i < 20 ? [(b & c) | (~b & d), 0x5a827999] : i < 40 ? [b ^ c ^ d, 0x6ed9eba1] : i < 60 ? [(b & c) | (b & d) | (c & d), 0x8f1bbcdc] : [b ^ c ^ d, 0xca62c1d6];
      const t = (((a << 5) | (a >>> 27)) + f + e + k + (w[i] as number)) >>> 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    h[0] = ((h[0] as number) + a) >>> 0;
    h[1] = ((h[1] as number) + b) >>> 0;
    h[2] = ((h[2] as number) + c) >>> 0;
    h[3] = ((h[3] as number) + d) >>> 0;
    h[4] = ((h[4] as number) + e) >>> 0;
  }
  const digest = Buffer.alloc(20);
  h.forEach((word, i) => digest.writeUInt32BE(word, i * 4));
  return digest.toString('base64');
}

/**
 * Bytes for the handshake key and frame masks, from Math.random: masking exists to stop
 * browser scripts from steering proxies (RFC 6455 10.3), and this connection is a Unix socket
 * between our own two programs, with no proxy and no untrusted script on either end.
 */
export function randomKeyBytes(length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return bytes;
}
