import { TapegradError } from '@tapegrad/autograd';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  CheckpointError,
  checkState,
  decodeSafetensors,
  encodeSafetensors,
  type StoredDType,
  type StoredTensor,
} from './index.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Runs `f`, which must throw a CheckpointError, and returns it for the field checks. */
function thrown(f: () => unknown): CheckpointError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err).toBeInstanceOf(TapegradError);
    return err as CheckpointError;
  }
  throw new Error('expected a CheckpointError, but nothing was thrown');
}

const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));

/**
 * A file from raw parts: the header text (or bytes), padded to 8 with spaces unless `pad` is
 * false, then `data`; `headerSize` overrides the size prefix.
 */
function rawFile(
  header: string | Uint8Array,
  data: Uint8Array | number = 0,
  options: { headerSize?: number | bigint } = {},
): Uint8Array {
  const head = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const padded = Math.ceil(head.length / 8) * 8;
  const out = new Uint8Array(8 + padded + body.length).fill(0x20, 8, 8 + padded);
  new DataView(out.buffer).setBigUint64(0, BigInt(options.headerSize ?? padded), true);
  out.set(head, 8);
  out.set(body, 8 + padded);
  return out;
}

/** A header of tensor entries, given as `[name, dtype, shape, [begin, end]]`. */
function header(...entries: [string, unknown, unknown, unknown][]): string {
  const object = Object.fromEntries(
    entries.map(([name, dtype, shape, offsets]) => [name, { dtype, shape, data_offsets: offsets }]),
  );
  return JSON.stringify(object);
}

const bytesOf = (t: StoredTensor): Uint8Array =>
  new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Name characters, including JSON's special ones and lone surrogates. */
const nameChar = fc.oneof(
  fc.constantFrom('"', '\\', '\u0000', '\n', ' ', '.', '\ud800', '\udfff', '7', '_'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const name = fc.string({ unit: nameChar, maxLength: 8 }).filter((n) => n !== '__metadata__');

/** Element bits: uniform, plus NaNs with payloads, ±0 and ±Inf. */
const bits32 = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  fc.constantFrom(0x7fc00000, 0xffc00001, 0x7f800001, 0x80000000, 0x7f800000, 0xff800000),
);
const bits64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.constantFrom(
    0x7ff8000000000000n,
    0xfff0000000000001n,
    0x7ff0000000000abcn,
    0x8000000000000000n,
    0x7ff0000000000000n,
    0xfff0000000000000n,
  ),
);

const shape = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 });

const tensor: fc.Arbitrary<StoredTensor> = fc
  .tuple(fc.constantFrom<StoredDType>('float32', 'float64', 'int32'), shape)
  .chain(([dtype, dims]): fc.Arbitrary<StoredTensor> => {
    const n = dims.reduce((a, b) => a * b, 1);
    if (dtype === 'float64') {
      return fc.array(bits64, { minLength: n, maxLength: n }).map((b) => ({
        dtype,
        shape: dims,
        data: new Float64Array(new BigUint64Array(b).buffer),
      }));
    }
    return fc.array(bits32, { minLength: n, maxLength: n }).map((b) => {
      const buffer = new Uint32Array(b).buffer;
      const data = dtype === 'float32' ? new Float32Array(buffer) : new Int32Array(buffer);
      return { dtype, shape: dims, data };
    });
  });

const tensors = fc.uniqueArray(fc.tuple(name, tensor), { selector: ([n]) => n, maxLength: 6 });
const metadata = fc.option(
  fc.dictionary(fc.string({ unit: nameChar, maxLength: 6 }), fc.string({ unit: nameChar })),
  { nil: undefined },
);
const file = fc.tuple(tensors, metadata).map(([t, m]) => encodeSafetensors(t, m));

// ---------------------------------------------------------------------------------------------

describe('encodeSafetensors and decodeSafetensors', () => {
  it('round-trips names, shapes (scalar and zero-size), dtypes, every bit and metadata', () => {
    fc.assert(
      fc.property(tensors, metadata, (entries, meta) => {
        const bytes = encodeSafetensors(entries, meta);
        const headerSize = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        expect(headerSize % 8).toBe(0);

        const { tensors: got, metadata: gotMeta } = decodeSafetensors(bytes);
        expect(gotMeta).toEqual(meta ?? {});
        expect([...got.keys()].sort()).toEqual(entries.map(([n]) => n).sort());
        for (const [n, t] of entries) {
          const back = got.get(n);
          expect(back?.dtype).toBe(t.dtype);
          expect(back?.shape).toEqual(t.shape);
          expect(back && bytesOf(back)).toEqual(bytesOf(t));
          expect(back?.data.byteOffset).toBe(0);
          expect(back?.data.buffer).not.toBe(bytes.buffer);
        }
        // Tensors with bytes come back in the order they were written.
        const nonEmpty = (ns: string[]) => ns.filter((n) => (got.get(n)?.data.length ?? 0) > 0);
        expect(nonEmpty([...got.keys()])).toEqual(nonEmpty(entries.map(([n]) => n)));
      }),
      { numRuns: 300 },
    );
  });

  it('takes a record, a Map or an array of pairs alike', () => {
    const w: StoredTensor = { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) };
    const b: StoredTensor = { dtype: 'int32', shape: [], data: new Int32Array([3]) };
    const fromRecord = encodeSafetensors({ w, b });
    expect(
      encodeSafetensors(
        new Map([
          ['w', w],
          ['b', b],
        ]),
      ),
    ).toEqual(fromRecord);
    expect(
      encodeSafetensors([
        ['w', w],
        ['b', b],
      ]),
    ).toEqual(fromRecord);
  });

  it('decodes from a view into a larger, oddly offset buffer', () => {
    const bytes = encodeSafetensors({
      x: { dtype: 'float64', shape: [3], data: new Float64Array([1.5, -0, NaN]) },
    });
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 3);
    const x = decodeSafetensors(big.subarray(3)).tensors.get('x');
    expect(x?.data).toBeInstanceOf(Float64Array);
    expect(Object.is(x?.data[1], -0)).toBe(true);
    expect(x?.data[0]).toBe(1.5);
  });

  it('writes the exact bytes of a hand-built file, and reads it back', () => {
    const json =
      '{"__metadata__":{"format":"pt"},' +
      '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"step":{"dtype":"I32","shape":[],"data_offsets":[8,12]},' +
      '"e":{"dtype":"F64","shape":[0,3],"data_offsets":[12,12]}}';
    expect(json.length).toBe(198);
    const expected = new Uint8Array([
      // N = 200 (198 bytes of JSON and 2 spaces), little-endian u64
      200,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...ascii(json),
      0x20,
      0x20,
      // w: float32 1, -2
      0x00,
      0x00,
      0x80,
      0x3f,
      0x00,
      0x00,
      0x00,
      0xc0,
      // step: int32 -2 (two's complement)
      0xfe,
      0xff,
      0xff,
      0xff,
    ]);

    const bytes = encodeSafetensors(
      [
        ['w', { dtype: 'float32', shape: [2], data: new Float32Array([1, -2]) }],
        ['step', { dtype: 'int32', shape: [], data: new Int32Array([-2]) }],
        ['e', { dtype: 'float64', shape: [0, 3], data: new Float64Array(0) }],
      ],
      { format: 'pt' },
    );
    expect([...bytes]).toEqual([...expected]);

    const { tensors: got, metadata: meta } = decodeSafetensors(expected);
    expect(meta).toEqual({ format: 'pt' });
    expect([...got.keys()]).toEqual(['w', 'step', 'e']);
    expect(got.get('w')).toEqual({ dtype: 'float32', shape: [2], data: new Float32Array([1, -2]) });
    expect(got.get('step')).toEqual({ dtype: 'int32', shape: [], data: new Int32Array([-2]) });
    expect(got.get('e')).toEqual({ dtype: 'float64', shape: [0, 3], data: new Float64Array(0) });
  });

  it('reads a file laid out as other writers do: entries out of data order, no metadata', () => {
    // Header order differs from data order; the header is padded with spaces.
    const json = header(['b', 'F32', [1], [8, 12]], ['a', 'F64', [1], [0, 8]]);
    const data = new Uint8Array(12);
    new DataView(data.buffer).setFloat64(0, 0.25, true);
    new DataView(data.buffer).setFloat32(8, 3, true);
    const { tensors: got, metadata: meta } = decodeSafetensors(rawFile(json, data));
    expect(meta).toEqual({});
    expect([...got.keys()]).toEqual(['a', 'b']);
    expect(got.get('a')?.data).toEqual(new Float64Array([0.25]));
    expect(got.get('b')?.data).toEqual(new Float32Array([3]));
  });

  it('an empty state is 16 bytes: N = 8 and "{}" padded with six spaces', () => {
    expect([...encodeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, ...ascii('{}      ')]);
    expect(decodeSafetensors(encodeSafetensors({})).tensors.size).toBe(0);
  });

  it('keeps a metadata key named __proto__ as an ordinary key', () => {
    const meta = Object.fromEntries([['__proto__', 'x']]) as Record<string, string>;
    const back = decodeSafetensors(encodeSafetensors({}, meta)).metadata;
    expect(Object.hasOwn(back, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
  });
});

describe('encodeSafetensors rejects', () => {
  const ok = (): StoredTensor => ({ dtype: 'float32', shape: [2], data: new Float32Array(2) });
  const bad = (t: unknown) => ({ x: t as StoredTensor });

  it('the reserved name __metadata__', () => {
    const err = thrown(() => encodeSafetensors({ __metadata__: ok() }));
    expect(err).toMatchObject({ op: 'encodeSafetensors', arg: '__metadata__' });
  });

  it('a name given twice', () => {
    const err = thrown(() =>
      encodeSafetensors([
        ['a', ok()],
        ['a', ok()],
      ]),
    );
    expect(err).toMatchObject({ op: 'encodeSafetensors', arg: 'a', expected: 'unique names' });
  });

  it.each([
    ['dtype float16', { dtype: 'float16', shape: [2], data: new Float32Array(2) }, 'float16'],
    ['shape [-1]', { dtype: 'float32', shape: [-1], data: new Float32Array(0) }, '[-1]'],
    ['shape [1.5]', { dtype: 'float32', shape: [1.5], data: new Float32Array(1) }, '[1.5]'],
    [
      'float32 with Float64Array',
      { dtype: 'float32', shape: [1], data: new Float64Array(1) },
      'Float64Array',
    ],
    [
      'int32 with Uint32Array',
      { dtype: 'int32', shape: [1], data: new Uint32Array(1) },
      'Uint32Array',
    ],
    [
      'shape [2,3] with 5 elements',
      { dtype: 'float32', shape: [2, 3], data: new Float32Array(5) },
      '5 elements',
    ],
    ['a null tensor', null, 'null'],
    [
      'shape [] with 0 elements',
      { dtype: 'float64', shape: [], data: new Float64Array(0) },
      '0 elements',
    ],
  ])('%s', (_case, t, actual) => {
    const err = thrown(() => encodeSafetensors(bad(t)));
    expect(err).toMatchObject({ op: 'encodeSafetensors', arg: 'x', actual });
  });

  it('a metadata value that is not a string', () => {
    const meta = { epoch: 3 } as unknown as Record<string, string>;
    const err = thrown(() => encodeSafetensors({}, meta));
    expect(err).toMatchObject({ op: 'encodeSafetensors', arg: '__metadata__', actual: 'number' });
  });
});

describe('decodeSafetensors rejects', () => {
  const f32 = (n: number, offsets: unknown) => header(['x', 'F32', [n], offsets]);

  it.each([0, 1, 7])('a file of %i bytes, shorter than the size prefix', (n) => {
    const err = thrown(() => decodeSafetensors(new Uint8Array(n)));
    expect(err).toMatchObject({
      op: 'decodeSafetensors',
      arg: 'header_size',
      expected: 'at least 8 bytes',
      actual: `${n} bytes`,
    });
  });

  it('a header size past the end of the file', () => {
    const err = thrown(() => decodeSafetensors(rawFile('{}', 0, { headerSize: 1000 })));
    expect(err).toMatchObject({
      arg: 'header_size',
      expected: 'at most 8 bytes',
      actual: '1000 bytes',
    });
  });

  it.each([2n ** 40n, 2n ** 64n - 1n, 200_000_000n])('an absurd header size %s', (n) => {
    const err = thrown(() => decodeSafetensors(rawFile('{}', 0, { headerSize: n })));
    expect(err.arg).toBe('header_size');
    expect(err.message).toMatch(/absurdly large/);
  });

  it('a header that is not UTF-8', () => {
    const head = new Uint8Array([...ascii('{"a'), 0xff, ...ascii('":{}}')]);
    const err = thrown(() => decodeSafetensors(rawFile(head)));
    expect(err).toMatchObject({ arg: 'header', expected: 'UTF-8', actual: 'malformed bytes' });
  });

  it.each([
    ['malformed JSON', '{"x":}'],
    ['a truncated object', '{"x":{"dtype":"F32"'],
    ['an array', '[1]'],
    ['null', 'null'],
    ['a number', '3'],
    ['a leading space', ' {}'],
    ['a byte order mark', '\ufeff{}'],
    ['an empty header', ''],
  ])('a header that is %s', (_case, text) => {
    expect(thrown(() => decodeSafetensors(rawFile(text))).arg).toBe('header');
  });

  it.each(['F16', 'BF16', 'I64', 'U8', 'BOOL', 'F8_E4M3'])('dtype %s as not supported', (dtype) => {
    const size = dtype.includes('8') || dtype === 'BOOL' ? 1 : dtype === 'I64' ? 8 : 2;
    const err = thrown(() =>
      decodeSafetensors(rawFile(header(['x', dtype, [1], [0, size]]), size)),
    );
    expect(err).toMatchObject({ arg: 'x', expected: 'F32, F64 or I32', actual: dtype });
    expect(err.message).toMatch(`dtype ${dtype}, which is not supported`);
  });

  it.each([
    ['Q7', 'Q7'],
    [5, '5'],
    [null, 'null'],
    ['f32', 'f32'],
  ])('unknown dtype %j', (dtype, actual) => {
    const err = thrown(() => decodeSafetensors(rawFile(header(['x', dtype, [1], [0, 4]]), 4)));
    expect(err).toMatchObject({ arg: 'x', actual });
    expect(err.message).toMatch('unknown dtype');
  });

  it.each([[[-1]], [[1.5]], [['2']], [[null]], ['2'], [{}], [[1e300]], [null]])(
    'shape %j',
    (bad) => {
      const err = thrown(() => decodeSafetensors(rawFile(header(['x', 'F32', bad, [0, 4]]), 4)));
      expect(err).toMatchObject({ arg: 'x', expected: 'a list of non-negative integers' });
    },
  );

  it.each([[[0]], [[4, 0]], [[-4, 0]], [[0, 4, 8]], ['0,4'], [[0.5, 4.5]], [null]])(
    'data_offsets %j',
    (offsets) => {
      const err = thrown(() => decodeSafetensors(rawFile(f32(1, offsets), 4)));
      expect(err).toMatchObject({ arg: 'x', expected: '[begin, end] with 0 <= begin <= end' });
    },
  );

  it('data_offsets that do not span shape × item size', () => {
    const err = thrown(() => decodeSafetensors(rawFile(f32(2, [0, 4]), 4)));
    expect(err).toMatchObject({ arg: 'x', expected: '8 bytes', actual: '4 bytes' });
  });

  it('a shape whose element count overflows', () => {
    const json = header(['x', 'F64', [2 ** 30, 2 ** 30, 2 ** 30], [0, 8]]);
    const err = thrown(() => decodeSafetensors(rawFile(json, 8)));
    expect(err).toMatchObject({ arg: 'x', expected: 'more than 2^53 bytes' });
  });

  it('data_offsets past the end of the data', () => {
    const err = thrown(() => decodeSafetensors(rawFile(f32(2, [0, 8]), 4)));
    expect(err).toMatchObject({ arg: 'x', expected: 'end at most 4', actual: '8' });
  });

  it('overlapping tensors', () => {
    const json = header(['a', 'F32', [2], [0, 8]], ['b', 'F32', [2], [4, 12]]);
    const err = thrown(() => decodeSafetensors(rawFile(json, 12)));
    expect(err).toMatchObject({ arg: 'b', expected: 'begin at least 8', actual: '4' });
  });

  it('an empty tensor placed inside another', () => {
    const json = header(['a', 'F32', [2], [0, 8]], ['b', 'F32', [0], [4, 4]]);
    expect(thrown(() => decodeSafetensors(rawFile(json, 8))).arg).toBe('b');
  });

  it('a gap between tensors', () => {
    const json = header(['a', 'F32', [1], [0, 4]], ['b', 'F32', [1], [8, 12]]);
    const err = thrown(() => decodeSafetensors(rawFile(json, 12)));
    expect(err).toMatchObject({ arg: 'b', expected: 'begin 4', actual: '8' });
  });

  it('a gap before the first tensor', () => {
    const err = thrown(() => decodeSafetensors(rawFile(f32(1, [4, 8]), 8)));
    expect(err).toMatchObject({ arg: 'x', expected: 'begin 0', actual: '4' });
  });

  it('trailing bytes after the last tensor', () => {
    const err = thrown(() => decodeSafetensors(rawFile(f32(1, [0, 4]), 8)));
    expect(err).toMatchObject({ arg: 'data', expected: '4 bytes', actual: '8 bytes' });
  });

  it('data bytes in a file with no tensors', () => {
    expect(thrown(() => decodeSafetensors(rawFile('{}', 1))).arg).toBe('data');
  });

  it.each([
    ['not an object', '{"x":3}'],
    ['missing shape', '{"x":{"dtype":"F32","data_offsets":[0,4]}}'],
    ['with an unknown field', '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"y":1}}'],
  ])('a tensor entry %s', (_case, json) => {
    expect(thrown(() => decodeSafetensors(rawFile(json, 4))).arg).toBe('x');
  });

  it.each([
    ['a number value', '{"__metadata__":{"epoch":3}}', '3'],
    ['a null value', '{"__metadata__":{"epoch":null}}', 'null'],
    ['not an object', '{"__metadata__":"epoch"}', '"epoch"'],
    ['an array', '{"__metadata__":["a"]}', '["a"]'],
  ])('metadata with %s', (_case, json, actual) => {
    const err = thrown(() => decodeSafetensors(rawFile(json)));
    expect(err).toMatchObject({ op: 'decodeSafetensors', arg: '__metadata__', actual });
  });

  it('with the op and source given in the options', () => {
    const err = thrown(() =>
      decodeSafetensors(new Uint8Array(3), { op: 'loadCheckpoint', source: 'model.safetensors' }),
    );
    expect(err.op).toBe('loadCheckpoint');
    expect(err.message).toMatch(/^loadCheckpoint: model\.safetensors: file is 3 bytes/);
  });

  it('every truncation of a valid file, never returning', () => {
    fc.assert(
      fc.property(
        file.chain((bytes) => fc.tuple(fc.constant(bytes), fc.nat(bytes.length - 1))),
        ([bytes, cut]) => {
          thrown(() => decodeSafetensors(bytes.subarray(0, cut)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every extension of a valid file by trailing bytes', () => {
    fc.assert(
      fc.property(file, fc.uint8Array({ minLength: 1, maxLength: 16 }), (bytes, extra) => {
        const longer = new Uint8Array([...bytes, ...extra]);
        expect(thrown(() => decodeSafetensors(longer)).arg).toBe('data');
      }),
      { numRuns: 100 },
    );
  });

  it('a corrupted byte with a CheckpointError, or decodes to consistent tensors', () => {
    fc.assert(
      fc.property(
        file.chain((bytes) =>
          fc.tuple(fc.constant(bytes), fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })),
        ),
        ([bytes, at, value]) => {
          const broken = bytes.slice();
          broken[at] = value;
          let decoded: ReturnType<typeof decodeSafetensors> | undefined;
          try {
            decoded = decodeSafetensors(broken);
          } catch (err) {
            expect(err).toBeInstanceOf(CheckpointError);
            return;
          }
          for (const t of decoded.tensors.values()) {
            expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('checkState', () => {
  const loaded = new Map<string, StoredTensor>([
    ['conv.weight', { dtype: 'float32', shape: [8, 1, 5, 5], data: new Float32Array(200) }],
    ['conv.bias', { dtype: 'float32', shape: [8], data: new Float32Array(8) }],
  ]);
  const model = {
    'conv.weight': { dtype: 'float32', shape: [8, 1, 5, 5] },
    'conv.bias': { dtype: 'float32', shape: [8] },
  } as const;

  it('accepts a matching state, and a record of the stored tensors themselves', () => {
    expect(() => checkState(model, loaded)).not.toThrow();
    expect(() => checkState(Object.fromEntries(loaded), loaded)).not.toThrow();
  });

  it('names the first missing tensor', () => {
    const err = thrown(() => checkState({ ...model, 'fc.weight': model['conv.bias'] }, loaded));
    expect(err).toMatchObject({
      op: 'loadCheckpoint',
      arg: 'fc.weight',
      expected: 'float32 [8]',
      actual: 'missing',
    });
  });

  it('names an unexpected tensor', () => {
    const err = thrown(() => checkState({ 'conv.weight': model['conv.weight'] }, loaded));
    expect(err).toMatchObject({
      arg: 'conv.bias',
      expected: 'no such tensor',
      actual: 'float32 [8]',
    });
  });

  it('gives both shapes of conv.weight [8,1,5,5] vs [8,3,5,5]', () => {
    const err = thrown(() =>
      checkState({ ...model, 'conv.weight': { dtype: 'float32', shape: [8, 3, 5, 5] } }, loaded),
    );
    expect(err).toMatchObject({ arg: 'conv.weight', expected: '[8,3,5,5]', actual: '[8,1,5,5]' });
    expect(err.message).toBe(
      'loadCheckpoint: tensor "conv.weight" has shape [8,1,5,5] in the checkpoint, the model expects [8,3,5,5]',
    );
  });

  it('tells a scalar [] from a one-element [1]', () => {
    const one = new Map([['s', { dtype: 'int32', shape: [1], data: new Int32Array(1) } as const]]);
    const err = thrown(() => checkState({ s: { dtype: 'int32', shape: [] } }, one));
    expect(err).toMatchObject({ expected: '[]', actual: '[1]' });
  });

  it('names a wrong dtype', () => {
    const err = thrown(() =>
      checkState({ ...model, 'conv.bias': { dtype: 'float64', shape: [8] } }, loaded, 'restore'),
    );
    expect(err).toMatchObject({
      op: 'restore',
      arg: 'conv.bias',
      expected: 'float64',
      actual: 'float32',
    });
  });
});
