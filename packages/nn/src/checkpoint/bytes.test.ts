import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  HOST_LITTLE_ENDIAN,
  putLittleEndian,
  takeLittleEndian,
  type StoredArray,
} from './bytes.js';

const dtypes = ['float32', 'float64', 'int32'] as const;

/** Raw bytes of `n` elements of `dtype`, every bit pattern possible, at a random offset. */
const elements = fc
  .constantFrom(...dtypes)
  .chain((dtype) =>
    fc.record({
      dtype: fc.constant(dtype),
      raw: fc.uint8Array({ maxLength: 64 }).map((b) => b.slice(0, b.length - (b.length % 8))),
      lead: fc.integer({ min: 0, max: 3 }),
    }),
  )
  .map(({ dtype, raw, lead }): StoredArray => {
    const size = dtype === 'float64' ? 8 : 4;
    // An array that does not start at byte 0 of its buffer, as `subarray` makes.
    const buffer = new ArrayBuffer(raw.length + lead * size);
    new Uint8Array(buffer, lead * size).set(raw);
    const count = raw.length / size;
    if (dtype === 'float32') return new Float32Array(buffer, lead * size, count);
    if (dtype === 'float64') return new Float64Array(buffer, lead * size, count);
    return new Int32Array(buffer, lead * size, count);
  });

const bytesOf = (a: StoredArray): Uint8Array =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const dtypeOf = (a: StoredArray) =>
  a instanceof Float32Array ? 'float32' : a instanceof Float64Array ? 'float64' : 'int32';

describe('little-endian copies', () => {
  it('this host is little-endian (the bulk path is the one in use)', () => {
    expect(HOST_LITTLE_ENDIAN).toBe(true);
  });

  it('the portable DataView path writes the same bytes as the bulk copy', () => {
    fc.assert(
      fc.property(elements, fc.integer({ min: 0, max: 5 }), (data, at) => {
        const bulk = new Uint8Array(at + data.byteLength);
        const portable = new Uint8Array(at + data.byteLength);
        putLittleEndian(bulk, at, data, false);
        putLittleEndian(portable, at, data, true);
        expect(portable).toEqual(bulk);
        expect(bulk.subarray(at)).toEqual(bytesOf(data));
      }),
    );
  });

  it('the portable path reads back the same bits as the bulk copy, into a fresh array', () => {
    fc.assert(
      fc.property(elements, fc.integer({ min: 0, max: 5 }), (data, at) => {
        const file = new Uint8Array(at + data.byteLength);
        file.set(bytesOf(data), at);
        const bulk = takeLittleEndian(dtypeOf(data), file, at, data.length, false);
        const portable = takeLittleEndian(dtypeOf(data), file, at, data.length, true);
        expect(bytesOf(bulk)).toEqual(bytesOf(data));
        expect(bytesOf(portable)).toEqual(bytesOf(data));
        expect(bulk.byteOffset).toBe(0);
        expect(bulk.buffer).not.toBe(file.buffer);
      }),
    );
  });

  it('float32 1 and -2 as bytes 00 00 80 3f and 00 00 00 c0 on both paths', () => {
    for (const portable of [false, true]) {
      const out = new Uint8Array(8);
      putLittleEndian(out, 0, new Float32Array([1, -2]), portable);
      expect([...out]).toEqual([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]);
    }
  });
});
