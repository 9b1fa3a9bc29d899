/**
 * The safetensors checkpoint format, encoded and decoded in memory with no Node-only API, so
 * the same code runs in a browser. A file is:
 *
 *     [8 bytes]  N, the header size, an unsigned 64-bit little-endian integer
 *     [N bytes]  a UTF-8 JSON object, padded with spaces to a multiple of 8 bytes:
 *                { "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24] }, ...,
 *                  "__metadata__": { "<key>": "<string value>" } }
 *     [rest]     every tensor's elements, row-major and little-endian; `data_offsets` are
 *                `[begin, end)` byte positions counted from the first byte after the header.
 *
 * The tensors' byte ranges tile the data section exactly: no gaps, no overlaps, no bytes left
 * over. The decoder checks all of it and throws a {@link CheckpointError} at the first fault.
 */
import { fmtShape } from '@tapegrad/autograd';
import {
  putLittleEndian,
  takeLittleEndian,
  utf8Decode,
  utf8Encode,
  type StoredArray,
} from './bytes.js';
import { CheckpointError } from './errors.js';

/** The element types a checkpoint holds. */
export type StoredDType = 'float32' | 'float64' | 'int32';

/** A named tensor's dtype and shape: what a model expects of a checkpoint entry. */
export interface TensorSpec {
  dtype: StoredDType;
  shape: readonly number[];
}

/**
 * One tensor as stored: dense, row-major, `data.length` equal to the product of `shape` (1 for
 * the scalar shape `[]`), and `data` the typed array matching `dtype`.
 */
export interface StoredTensor {
  dtype: StoredDType;
  shape: readonly number[];
  data: Float32Array | Float64Array | Int32Array;
}

/** What {@link decodeSafetensors} returns. */
export interface DecodedSafetensors {
  /** The tensors, in the order of their bytes in the file. */
  tensors: Map<string, StoredTensor>;
  /** The `__metadata__` entries, or an empty object when the file has none. */
  metadata: Record<string, string>;
}

/** Options of {@link decodeSafetensors}. */
export interface DecodeOptions {
  /** The `op` of thrown errors; `loadSafetensorsFile` passes `loadCheckpoint`. */
  op?: string;
  /** Where the bytes came from, e.g. a file path; it starts every error message. */
  source?: string;
}

const FILE_DTYPE: Record<StoredDType, string> = { float32: 'F32', float64: 'F64', int32: 'I32' };
const STORED_DTYPE: ReadonlyMap<string, StoredDType> = new Map([
  ['F32', 'float32'],
  ['F64', 'float64'],
  ['I32', 'int32'],
]);
const ITEM_SIZE: Record<StoredDType, number> = { float32: 4, float64: 8, int32: 4 };
const ARRAY_TYPE: Record<
  StoredDType,
  Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor
> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
};

/** dtypes the format defines that this reader does not, so the error can say "not supported". */
const OTHER_FILE_DTYPES = new Set([
  'BOOL',
  'U8',
  'I8',
  'U16',
  'I16',
  'F16',
  'BF16',
  'U32',
  'U64',
  'I64',
  'C64',
  'F8_E4M3',
  'F8_E5M2',
  'F8_E8M0',
  'F6_E2M3',
  'F6_E3M2',
  'F4',
]);

/** The key of the metadata entry; it names no tensor. */
const METADATA_KEY = '__metadata__';

/** The largest header the decoder accepts, the same bound the reference implementation sets. */
const MAX_HEADER_SIZE = 100_000_000;

const TENSOR_FIELDS = new Set(['dtype', 'shape', 'data_offsets']);

/**
 * Encodes tensors, and optionally string metadata, as a safetensors file. The tensors' bytes
 * follow one another in the order given, and the header is padded with spaces so the data
 * starts at a multiple of 8 bytes. `__metadata__` is written only when `metadata` is passed.
 *
 * @throws CheckpointError (op `encodeSafetensors`) for a duplicate or reserved name, an
 *   unknown dtype, a shape that is not a list of non-negative integers, data of the wrong
 *   typed-array type or length, or a metadata value that is not a string.
 *
 * @example
 * ```ts
 * const bytes = encodeSafetensors(
 *   { 'fc.weight': { dtype: 'float32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } },
 *   { epoch: '3' },
 * );
 * decodeSafetensors(bytes).tensors.get('fc.weight')?.shape; // [2, 2]
 * ```
 */
export function encodeSafetensors(
  tensors: Record<string, StoredTensor> | Iterable<[string, StoredTensor]>,
  metadata?: Record<string, string>,
): Uint8Array {
  const op = 'encodeSafetensors';
  const entries = isIterable(tensors) ? [...tensors] : Object.entries(tensors);
  const parts: string[] = [];
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new CheckpointError(
          op,
          METADATA_KEY,
          'a string',
          typeof value,
          `metadata value "${key}" is a ${typeof value}, not a string`,
        );
      }
    }
    parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }

  const seen = new Set<string>();
  let offset = 0;
  for (const [name, tensor] of entries) {
    if (name === METADATA_KEY) {
      throw new CheckpointError(
        op,
        name,
        'a tensor name',
        name,
        `"${METADATA_KEY}" is reserved for metadata and cannot name a tensor`,
      );
    }
    if (seen.has(name)) {
      throw new CheckpointError(op, name, 'unique names', name, `tensor "${name}" is given twice`);
    }
    seen.add(name);
    checkStoredTensor(op, name, tensor);
    const end = offset + tensor.data.byteLength;
    const entry = {
      dtype: FILE_DTYPE[tensor.dtype],
      shape: tensor.shape,
      data_offsets: [offset, end],
    };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(entry)}`);
    offset = end;
  }

  // Built by hand rather than with `Object.fromEntries`, so names that look like integers keep
  // their place instead of moving to the front.
  const json = utf8Encode(`{${parts.join(',')}}`);
  const headerSize = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerSize + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerSize % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerSize / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerSize);

  let at = 8 + headerSize;
  for (const [, tensor] of entries) {
    putLittleEndian(out, at, tensor.data);
    at += tensor.data.byteLength;
  }
  return out;
}

/**
 * Decodes a safetensors file, copying every tensor into a fresh typed array of its own (aligned,
 * sharing nothing with `bytes`). Only F32, F64 and I32 tensors are read.
 *
 * Nothing is returned unless the whole file checks out: the header size fits the file and is
 * at most 100 MB; the header is UTF-8 JSON, an object starting with `{`; each tensor has exactly
 * `dtype`, `shape` (non-negative integers) and `data_offsets` (`[begin, end]` with
 * `end - begin` = elements × item size); the byte ranges tile the data exactly; and metadata
 * values are strings.
 *
 * @throws CheckpointError at the first fault, `arg` naming the tensor or the field
 *   (`header_size`, `header`, `__metadata__`, `data`).
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  options: DecodeOptions = {},
): DecodedSafetensors {
  const op = options.op ?? 'decodeSafetensors';
  const where = options.source === undefined ? '' : `${options.source}: `;
  const fail: Fail = (arg, expected, actual, message) => {
    throw new CheckpointError(op, arg, expected, actual, `${where}${message}`);
  };

  if (bytes.length < 8) {
    fail(
      'header_size',
      'at least 8 bytes',
      `${bytes.length} bytes`,
      `file is ${bytes.length} bytes, shorter than the 8-byte header size`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const headerSize = high * 2 ** 32 + low;
  if (high !== 0 || headerSize > MAX_HEADER_SIZE) {
    fail(
      'header_size',
      `at most ${MAX_HEADER_SIZE} bytes`,
      `${headerSize} bytes`,
      `header size ${headerSize} is absurdly large (the limit is ${MAX_HEADER_SIZE} bytes)`,
    );
  }
  if (headerSize > bytes.length - 8) {
    fail(
      'header_size',
      `at most ${bytes.length - 8} bytes`,
      `${headerSize} bytes`,
      `header size ${headerSize} runs past the end of the ${bytes.length}-byte file`,
    );
  }

  const header = parseHeader(bytes.slice(8, 8 + headerSize), fail);
  const dataStart = 8 + headerSize;
  const dataLength = bytes.length - dataStart;

  let metadata: Record<string, string> = {};
  const layout: {
    name: string;
    dtype: StoredDType;
    shape: number[];
    begin: number;
    end: number;
  }[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      metadata = parseMetadata(value, fail);
      continue;
    }
    const entry = parseEntry(name, value, fail);
    if (entry.end > dataLength) {
      fail(
        name,
        `end at most ${dataLength}`,
        `${entry.end}`,
        `tensor "${name}" data_offsets [${entry.begin},${entry.end}] run past the ` +
          `${dataLength}-byte data section`,
      );
    }
    layout.push({ name, ...entry });
  }

  // Stable, so tensors of zero size at the same offset keep their header order.
  layout.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const { name, begin, end } of layout) {
    if (begin < cursor) {
      fail(
        name,
        `begin at least ${cursor}`,
        `${begin}`,
        `tensor "${name}" starts at byte ${begin}, inside the tensor before it, ` +
          `which ends at ${cursor}`,
      );
    }
    if (begin > cursor) {
      fail(
        name,
        `begin ${cursor}`,
        `${begin}`,
        `bytes ${cursor} to ${begin} before tensor "${name}" belong to no tensor`,
      );
    }
    cursor = end;
  }
  if (cursor !== dataLength) {
    fail(
      'data',
      `${cursor} bytes`,
      `${dataLength} bytes`,
      `the tensors cover ${cursor} bytes of data but the file has ${dataLength}; ` +
        `${dataLength - cursor} trailing bytes belong to no tensor`,
    );
  }

  const tensors = new Map<string, StoredTensor>();
  for (const { name, dtype, shape, begin, end } of layout) {
    const data = takeLittleEndian(
      dtype,
      bytes,
      dataStart + begin,
      (end - begin) / ITEM_SIZE[dtype],
    );
    tensors.set(name, { dtype, shape, data });
  }
  return { tensors, metadata };
}

/**
 * Checks that a loaded checkpoint holds exactly the tensors a model expects, with their dtypes
 * and shapes. Names are checked in the order of `expected`, then any extra loaded name.
 *
 * @param expected The model's tensors by name; a record of `StoredTensor` will do.
 * @param loaded The decoded tensors, e.g. `decodeSafetensors(bytes).tensors`.
 * @param op The `op` of the thrown error.
 * @throws CheckpointError naming the first missing tensor, the first with the wrong dtype or
 *   shape (both given in `expected` and `actual`), or the first unexpected one.
 */
export function checkState(
  expected: Record<string, TensorSpec>,
  loaded: Map<string, StoredTensor>,
  op = 'loadCheckpoint',
): void {
  for (const [name, spec] of Object.entries(expected)) {
    const got = loaded.get(name);
    if (got === undefined) {
      throw new CheckpointError(
        op,
        name,
        `${spec.dtype} ${fmtShape(spec.shape)}`,
        'missing',
        `checkpoint has no tensor "${name}" ` +
          `(the model expects ${spec.dtype} ${fmtShape(spec.shape)})`,
      );
    }
    if (got.dtype !== spec.dtype) {
      throw new CheckpointError(
        op,
        name,
        spec.dtype,
        got.dtype,
        `tensor "${name}" is ${got.dtype} in the checkpoint, the model expects ${spec.dtype}`,
      );
    }
    if (!sameShape(got.shape, spec.shape)) {
      throw new CheckpointError(
        op,
        name,
        fmtShape(spec.shape),
        fmtShape(got.shape),
        `tensor "${name}" has shape ${fmtShape(got.shape)} in the checkpoint, ` +
          `the model expects ${fmtShape(spec.shape)}`,
      );
    }
  }
  for (const [name, got] of loaded) {
    if (!Object.hasOwn(expected, name)) {
      throw new CheckpointError(
        op,
        name,
        'no such tensor',
        `${got.dtype} ${fmtShape(got.shape)}`,
        `checkpoint has tensor "${name}", which the model does not have`,
      );
    }
  }
}

function isIterable<T>(value: object): value is Iterable<T> {
  return Symbol.iterator in value;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function isDim(d: unknown): d is number {
  return typeof d === 'number' && Number.isSafeInteger(d) && d >= 0;
}

/** A short rendering of an untrusted JSON value for an error message. */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The element count of `shape`, or `undefined` when it exceeds `limit`. */
function elementCount(shape: readonly number[], limit: number): number | undefined {
  if (shape.includes(0)) return 0;
  let count = 1;
  for (const d of shape) {
    count *= d;
    if (count > limit) return undefined;
  }
  return count;
}

function checkStoredTensor(op: string, name: string, tensor: StoredTensor): void {
  if (typeof tensor !== 'object' || tensor === null) {
    throw new CheckpointError(
      op,
      name,
      'a StoredTensor',
      show(tensor),
      `tensor "${name}" is ${show(tensor)}, not a tensor`,
    );
  }
  const { dtype, shape, data } = tensor;
  if (!Object.hasOwn(FILE_DTYPE, dtype)) {
    throw new CheckpointError(
      op,
      name,
      'float32, float64 or int32',
      String(dtype),
      `tensor "${name}" has dtype ${String(dtype)}, which cannot be stored`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isDim)) {
    throw new CheckpointError(
      op,
      name,
      'a list of non-negative integers',
      show(shape),
      `tensor "${name}" shape ${show(shape)} is not a list of non-negative integers`,
    );
  }
  if (!(data instanceof ARRAY_TYPE[dtype])) {
    const actual = (data as object | null)?.constructor?.name ?? String(data);
    throw new CheckpointError(
      op,
      name,
      ARRAY_TYPE[dtype].name,
      actual,
      `tensor "${name}" is ${dtype} but its data is a ${actual}, not a ${ARRAY_TYPE[dtype].name}`,
    );
  }
  const count = elementCount(shape, Number.MAX_SAFE_INTEGER);
  if (count !== data.length) {
    throw new CheckpointError(
      op,
      name,
      `${count ?? 'too many'} elements`,
      `${data.length} elements`,
      `tensor "${name}" of shape ${fmtShape(shape)} needs ${count ?? 'too many'} elements, ` +
        `its data has ${data.length}`,
    );
  }
}

type Fail = (arg: string, expected: string, actual: string, message: string) => never;

function parseHeader(raw: Uint8Array, fail: Fail): Record<string, unknown> {
  // The format requires the JSON to start at the first byte; this also rejects a BOM.
  if (raw[0] !== 0x7b) {
    fail(
      'header',
      'a JSON object starting with "{"',
      raw.length === 0 ? 'an empty header' : `byte 0x${raw[0].toString(16)}`,
      'header does not start with "{"',
    );
  }
  let text = '';
  try {
    text = utf8Decode(raw);
  } catch {
    fail('header', 'UTF-8', 'malformed bytes', 'header is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    fail(
      'header',
      'a JSON object',
      'malformed JSON',
      `header is not valid JSON (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('header', 'a JSON object', show(value), `header is ${show(value)}, not a JSON object`);
  }
  // Note: `JSON.parse` keeps the last of duplicate keys. The dropped entry's bytes then belong
  // to no tensor, so the tiling check still rejects such a file unless both share one range.
  return value as Record<string, unknown>;
}

function parseMetadata(value: unknown, fail: Fail): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(
      METADATA_KEY,
      'an object of strings',
      show(value),
      `"${METADATA_KEY}" is ${show(value)}, not an object`,
    );
  }
  const entries = Object.entries(value as Record<string, unknown>);
  for (const [key, v] of entries) {
    if (typeof v !== 'string') {
      fail(
        METADATA_KEY,
        'a string',
        show(v),
        `metadata value "${key}" is ${show(v)}, not a string`,
      );
    }
  }
  // `fromEntries` defines own properties, so a key like `__proto__` stays an ordinary key.
  return Object.fromEntries(entries) as Record<string, string>;
}

function parseEntry(
  name: string,
  value: unknown,
  fail: Fail,
): { dtype: StoredDType; shape: number[]; begin: number; end: number } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(
      name,
      'an object with dtype, shape and data_offsets',
      show(value),
      `tensor "${name}" entry is ${show(value)}, not an object`,
    );
  }
  const entry = value as Record<string, unknown>;
  for (const field of TENSOR_FIELDS) {
    if (!Object.hasOwn(entry, field)) {
      fail(name, `a "${field}" field`, 'missing', `tensor "${name}" has no "${field}"`);
    }
  }
  for (const field of Object.keys(entry)) {
    if (!TENSOR_FIELDS.has(field)) {
      fail(
        name,
        'only dtype, shape and data_offsets',
        field,
        `tensor "${name}" has an unknown field "${field}"`,
      );
    }
  }

  const fileDtype = entry['dtype'];
  const dtype = typeof fileDtype === 'string' ? STORED_DTYPE.get(fileDtype) : undefined;
  if (dtype === undefined) {
    const message =
      typeof fileDtype === 'string' && OTHER_FILE_DTYPES.has(fileDtype)
        ? `tensor "${name}" has dtype ${fileDtype}, which is not supported ` +
          '(only F32, F64 and I32 are)'
        : `tensor "${name}" has unknown dtype ${show(fileDtype)}`;
    return fail(
      name,
      'F32, F64 or I32',
      typeof fileDtype === 'string' ? fileDtype : show(fileDtype),
      message,
    );
  }

  const shape = entry['shape'];
  if (!Array.isArray(shape) || !shape.every(isDim)) {
    return fail(
      name,
      'a list of non-negative integers',
      show(shape),
      `tensor "${name}" shape ${show(shape)} is not a list of non-negative integers`,
    );
  }
  const offsets = entry['data_offsets'];
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every(isDim) ||
    offsets[0] > offsets[1]
  ) {
    return fail(
      name,
      '[begin, end] with 0 <= begin <= end',
      show(offsets),
      `tensor "${name}" data_offsets ${show(offsets)} are not [begin, end] with 0 <= begin <= end`,
    );
  }

  const [begin, end] = offsets as [number, number];
  const itemSize = ITEM_SIZE[dtype];
  const count = elementCount(shape, Number.MAX_SAFE_INTEGER / itemSize);
  if (count === undefined || count * itemSize !== end - begin) {
    const need = count === undefined ? 'more than 2^53' : `${count * itemSize}`;
    return fail(
      name,
      `${need} bytes`,
      `${end - begin} bytes`,
      `tensor "${name}" is ${fileDtype} ${fmtShape(shape)}, which needs ${need} bytes, ` +
        `but data_offsets [${begin},${end}] span ${end - begin}`,
    );
  }
  // `-0` parses as a valid dimension; store it as 0 so shapes compare as expected.
  return { dtype, shape: shape.map((d: number) => d + 0), begin, end };
}
