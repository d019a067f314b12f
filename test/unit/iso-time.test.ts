import { describe, expect, it } from 'vitest';
import { isoTime } from '../../src/shared/iso-time.js';

describe('isoTime', () => {
  it('writes what toISOString writes, for any date', () => {
    const edges = [0, -1, 1, Date.now(), 253402300799999, 253402300800000, -62167219200000, -62167219200001, 951782400000, 8.64e15, -8.64e15];
    let seed = 7;
    const random = (from: number, to: number) => (): number => Math.floor(from + ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * (to - from));
    // Years 0 to 9999 (the written path), then any valid time (expanded years take the built-in one).
    const written = Array.from({ length: 2000 }, random(-62167219200000, 253402300800000));
    const any = Array.from({ length: 200 }, random(-8.64e15, 8.64e15));
    for (const ms of [...edges, ...written, ...any]) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it('throws as toISOString does for an invalid date', () => {
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
  });
});
