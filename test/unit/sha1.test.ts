import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { randomKeyBytes, sha1Base64 } from '../../src/shared/sha1.js';
import { acceptKey } from '../../src/shared/ws-frames.js';

describe('sha1Base64', () => {
  const reference = (text: string): string => createHash('sha1').update(text).digest('base64');

  it('matches node:crypto on every length around the block boundaries, and on non-ASCII text', () => {
    for (let length = 0; length <= 200; length++) {
      const text = Array.from({ length }, (_, i) => String.fromCharCode(33 + ((i * 7) % 90))).join('');
      expect(sha1Base64(text), `length ${length}`).toBe(reference(text));
    }
    expect(sha1Base64('héllo wörld ✓')).toBe(reference('héllo wörld ✓'));
  });

  it("gives RFC 6455's example accept key", () => {
    expect(acceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });
});

describe('randomKeyBytes', () => {
  it('gives the length asked for, differently each time', () => {
    expect(randomKeyBytes(16)).toHaveLength(16);
    expect(randomKeyBytes(16).equals(randomKeyBytes(16))).toBe(false);
  });
});
