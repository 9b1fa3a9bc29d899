/**
 * A module's parameters (and optionally its optimizer's state) as a safetensors checkpoint.
 * Parameters are stored under their dotted names (`conv.weight`); optimizer buffers under
 * `optimizer.<parameter>.<buffer>`, with the optimizer's kind and step count in the metadata,
 * so a run can resume exactly. Loading checks every name, shape and dtype before it writes
 * anything: a mismatch leaves the module untouched.
 */
import { type FloatArray, TapegradError } from '@tapegrad/autograd';
import type { Module } from '../module.js';
import type { Optimizer } from '../optim.js';
import { CheckpointError } from './errors.js';
import {
  type StoredTensor,
  checkState,
  decodeSafetensors,
  encodeSafetensors,
} from './safetensors.js';

const FORMAT = 'tapegrad-checkpoint/1';
const OPT = 'optimizer.';

/** Options of `encodeCheckpoint`. */
export interface CheckpointOptions {
  /** Also store this optimizer's state (kind, step count and buffers). */
  optimizer?: Optimizer;
  /** Extra string metadata to store (epoch, seed, ...). */
  metadata?: Record<string, string>;
}

function stored(data: FloatArray, shape: readonly number[]): StoredTensor {
  return { dtype: data instanceof Float64Array ? 'float64' : 'float32', shape, data };
}

/** Encodes the module's parameters (and the optimizer's state) as safetensors bytes. */
export function encodeCheckpoint(module: Module, options: CheckpointOptions = {}): Uint8Array {
  const entries: [string, StoredTensor][] = module
    .namedParameters()
    .map(([n, p]) => [n, stored(p.data, p.shape)]);
  const metadata: Record<string, string> = { ...options.metadata, format: FORMAT };
  const opt = options.optimizer;
  if (opt) {
    const state = opt.stateDict();
    metadata['optimizer.kind'] = state.kind;
    metadata['optimizer.step'] = String(state.step);
    for (const [k, v] of Object.entries(state.buffers))
      entries.push([OPT + k, stored(v, [v.length])]);
  }
  return encodeSafetensors(entries, metadata);
}

/**
 * Loads safetensors bytes into `module` (and `optimizer`), after checking that the file holds
 * exactly the module's parameters with their shapes and dtypes. Returns the file's metadata.
 */
export function loadCheckpoint(
  bytes: Uint8Array,
  module: Module,
  options: { optimizer?: Optimizer; source?: string } = {},
): Record<string, string> {
  const decoded = decodeSafetensors(bytes, {
    op: 'loadCheckpoint',
    ...(options.source ? { source: options.source } : {}),
  });
  const params = new Map<string, StoredTensor>();
  const buffers = new Map<string, StoredTensor>();
  for (const [name, t] of decoded.tensors) (name.startsWith(OPT) ? buffers : params).set(name, t);
  const named = module.namedParameters();
  checkState(
    Object.fromEntries(named.map(([n, p]) => [n, { dtype: p.dtype, shape: p.shape }])),
    params,
  );
  const opt = options.optimizer;
  const meta = decoded.metadata;
  if (opt) {
    if (meta['optimizer.kind'] !== opt.kind) {
      const held = meta['optimizer.kind'];
      const holds = held ? `${held} optimizer state` : 'no optimizer state';
      throw new CheckpointError(
        'loadCheckpoint',
        'optimizer',
        opt.kind,
        held ?? 'none',
        `checkpoint holds ${holds}, not ${opt.kind}`,
      );
    }
    const step = Number(meta['optimizer.step']);
    if (!Number.isInteger(step) || step < 0) {
      throw new CheckpointError(
        'loadCheckpoint',
        'optimizer.step',
        'a non-negative integer',
        String(meta['optimizer.step']),
        `optimizer.step ${meta['optimizer.step']} is not a non-negative integer`,
      );
    }
    const state: Record<string, FloatArray> = {};
    for (const [name, t] of buffers) {
      if (t.dtype === 'int32') {
        throw new CheckpointError(
          'loadCheckpoint',
          name,
          'float32 or float64',
          'int32',
          `optimizer buffer ${name} is int32`,
        );
      }
      state[name.slice(OPT.length)] = t.data as FloatArray;
    }
    try {
      opt.loadStateDict({ kind: opt.kind, step, buffers: state });
    } catch (err) {
      // The optimizer validates its buffers (names and sizes; int32 ones were refused above);
      // report that as a checkpoint problem, naming the same buffer. Nothing has been written to
      // the module yet.
      if (!(err instanceof TapegradError)) throw err;
      throw new CheckpointError(
        'loadCheckpoint',
        err.arg,
        err.expected,
        err.actual,
        `optimizer state: ${err.message}`,
      );
    }
  }
  for (const [n, p] of named) p.data.set(params.get(n)!.data as FloatArray);
  return meta;
}
