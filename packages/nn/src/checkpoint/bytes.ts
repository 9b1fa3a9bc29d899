/**
 * Byte-level helpers for the safetensors codec: little-endian copies that are right on any host,
 * and UTF-8 through the `TextEncoder`/`TextDecoder` that browsers and Node both provide.
 */

/** The element arrays a checkpoint stores. */
export type StoredArray = Float32Array | Float64Array | Int32Array;

/** Whether this host keeps multi-byte numbers lowest byte first (every current one does). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// The package compiles with `lib: ["ES2022"]` and no DOM types, so declare just what is used.
// These name the globals; nothing is emitted for them.
declare const TextEncoder: new () => { encode(input: string): Uint8Array };
declare const TextDecoder: new (
  label: string,
  options: { fatal: boolean; ignoreBOM: boolean },
) => { decode(input: Uint8Array): string };

/** UTF-8 bytes of `text`. Lone surrogates become U+FFFD, so callers pass JSON (which has none). */
export function utf8Encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Decodes UTF-8 strictly: malformed bytes throw a `TypeError` instead of becoming U+FFFD. */
export function utf8Decode(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
}

// Note [bits, not numbers]: the portable paths below move each element as an unsigned integer of
// its width. Going through a float view would turn every element into a JS number and back,
// and a NaN's payload is not guaranteed to survive that.

/**
 * Writes `data` into `out` at byte `offset`, little-endian. The bulk byte copy is only right on
 * a little-endian host; `portable` selects the element-by-element `DataView` path, which is
 * right on any host and is what a big-endian host uses. Tests call both and compare.
 */
export function putLittleEndian(
  out: Uint8Array,
  offset: number,
  data: StoredArray,
  portable = !HOST_LITTLE_ENDIAN,
): void {
  if (!portable) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    return;
  }

  const view = new DataView(out.buffer, out.byteOffset + offset, data.byteLength);
  if (data instanceof Float64Array) {
    const bits = new BigUint64Array(data.buffer, data.byteOffset, data.length);
    for (let i = 0; i < bits.length; i++) view.setBigUint64(8 * i, bits[i], true);
  } else {
    const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
    for (let i = 0; i < bits.length; i++) view.setUint32(4 * i, bits[i], true);
  }
}

/**
 * Reads `count` little-endian elements of `dtype` from `bytes` at byte `begin` into a fresh
 * array of its own (so it is aligned and shares nothing with `bytes`). `portable` as in
 * {@link putLittleEndian}.
 */
export function takeLittleEndian(
  dtype: 'float32' | 'float64' | 'int32',
  bytes: Uint8Array,
  begin: number,
  count: number,
  portable = !HOST_LITTLE_ENDIAN,
): StoredArray {
  const out =
    dtype === 'float32'
      ? new Float32Array(count)
      : dtype === 'float64'
        ? new Float64Array(count)
        : new Int32Array(count);
  if (!portable) {
    new Uint8Array(out.buffer).set(bytes.subarray(begin, begin + out.byteLength));
    return out;
  }

  const view = new DataView(bytes.buffer, bytes.byteOffset + begin, out.byteLength);
  if (out instanceof Float64Array) {
    const bits = new BigUint64Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = view.getBigUint64(8 * i, true);
  } else {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = view.getUint32(4 * i, true);
  }
  return out;
}
