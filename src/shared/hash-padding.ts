/**
 * The message padding SHA-1 and SHA-256 share (FIPS 180-4, 5.1.1): the bytes, 0x80, zeros, then
 * the length in bits as a 64-bit big-endian integer, to a whole number of 64-byte blocks.
 */
export function padMessage(text: string): { message: Buffer; blocks: number } {
  const bytes = Buffer.from(text, 'utf8');
  const blocks = Math.ceil((bytes.length + 9) / 64);
  const message = Buffer.alloc(blocks * 64);
  bytes.copy(message);
  message[bytes.length] = 0x80;
  message.writeUInt32BE(Math.floor((bytes.length * 8) / 2 ** 32), message.length - 8);
  message.writeUInt32BE((bytes.length * 8) >>> 0, message.length - 4);
  return { message, blocks };
}
