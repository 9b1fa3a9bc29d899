/**
 * Every validation throws a typed error; each test checks the class and the fields (`op`, `arg`,
 * `expected`, `actual`) and the message's template.
 */
import { describe, expect, test } from 'vitest';
import {
  AxisError,
  DTypeError,
  GradientError,
  Rng,
  ShapeError,
  TapegradError,
  Tensor,
  ValueError,
  add,
  arange,
  broadcastTo,
  concat,
  customVjp,
  eye,
  fold,
  full,
  gather,
  grad,
  gt,
  matmul,
  max,
  mean,
  mul,
  ones,
  pad,
  permute,
  rand,
  randn,
  reshape,
  scatterAdd,
  slice,
  sum,
  tensor,
  transpose,
  unfold,
  valueAndGrad,
  vjp,
  where,
  zeros,
} from '../src/index.js';
import * as lib from '../src/index.js';
import { thrown } from './helpers.js';

type ErrorClass = new (...args: never[]) => TapegradError;

interface Fields {
  op: string;
  arg?: string;
  expected?: string;
  actual?: string;
  message?: string | RegExp;
}

function expectError(fn: () => unknown, cls: ErrorClass, fields: Fields): void {
  const e = thrown(fn);
  expect(e).toBeInstanceOf(cls);
  expect(e).toBeInstanceOf(TapegradError);
  const { message, ...rest } = fields;
  expect(e).toMatchObject(rest);
  expect((e as Error).name).toBe(cls.name);
  expect((e as Error).message.startsWith(`${fields.op}: `)).toBe(true);
  if (typeof message === 'string') expect((e as Error).message).toBe(message);
  else if (message) expect((e as Error).message).toMatch(message);
}

const f32 = (shape: number[]): Tensor => zeros(shape);
const f64 = (shape: number[]): Tensor => zeros(shape, { dtype: 'float64' });

describe('incompatible broadcast', () => {
  test.each([
    ['add', add],
    ['mul', mul],
  ] as const)('%s a=[2,3] b=[4] throws ShapeError', (op, fn) => {
    expectError(() => fn(f32([2, 3]), f32([4])), ShapeError, {
      op,
      arg: 'b',
      expected: '[2,3]',
      actual: '[4]',
      message: `${op}: shapes [2,3] and [4] do not broadcast (axis -1: 3 vs 4)`,
    });
  });

  test('add a=[2,3,4] b=[5,1] names the failing axis -2', () => {
    expectError(() => add(f32([2, 3, 4]), f32([5, 1])), ShapeError, {
      op: 'add',
      message: /axis -2: 3 vs 5/,
    });
  });

  test('where cond=[2] a=[3] throws ShapeError naming where', () => {
    expectError(() => where(f32([2]), f32([3]), 0), ShapeError, { op: 'where', actual: '[3]' });
  });

  test('broadcastTo x=[2,3] shape=[3,3] throws ShapeError', () => {
    expectError(() => broadcastTo(f32([2, 3]), [3, 3]), ShapeError, {
      op: 'broadcastTo',
      arg: 'shape',
      expected: 'a shape [2,3] broadcasts to',
      actual: '[3,3]',
      message: 'broadcastTo: cannot broadcast [2,3] to [3,3]',
    });
  });

  test('broadcastTo x=[2,3] shape=[3] (fewer axes) throws ShapeError', () => {
    expectError(() => broadcastTo(f32([2, 3]), [3]), ShapeError, {
      op: 'broadcastTo',
      arg: 'shape',
      actual: '[3]',
      message: 'broadcastTo: cannot broadcast [2,3] to [3]',
    });
  });
});

describe('astype', () => {
  test("astype('float16') throws DTypeError instead of returning float32 data", () => {
    expectError(() => f32([2]).astype('float16' as 'float32'), DTypeError, {
      op: 'astype',
      arg: 'dtype',
      expected: 'float32 or float64',
      actual: 'float16',
    });
  });
});

describe('matmul', () => {
  test('inner mismatch with transB a=[2,3] b=[5,4] expects 3 columns in b', () => {
    expectError(() => matmul(f32([2, 3]), f32([5, 4]), { transB: true }), ShapeError, {
      op: 'matmul',
      arg: 'b',
      expected: '3 columns in b',
      actual: '4',
    });
  });

  test('inner mismatch a=[2,3] b=[4,5] throws ShapeError', () => {
    expectError(() => matmul(f32([2, 3]), f32([4, 5])), ShapeError, {
      op: 'matmul',
      arg: 'b',
      expected: '3 rows in b',
      actual: '4',
      message: 'matmul: inner dimensions differ, [2,3] @ [4,5]',
    });
  });

  test('inner mismatch with a vector a=[3] b=[4,5] shows the original shapes', () => {
    expectError(() => matmul(f32([3]), f32([4, 5])), ShapeError, {
      op: 'matmul',
      message: 'matmul: inner dimensions differ, [3] @ [4,5]',
    });
  });

  test('batch mismatch a=[2,2,3] b=[3,3,4] throws ShapeError', () => {
    expectError(() => matmul(f32([2, 2, 3]), f32([3, 3, 4])), ShapeError, {
      op: 'matmul',
      arg: 'b',
      actual: '[3]',
      message: 'matmul: batch axes do not broadcast, [2,2,3] @ [3,3,4]',
    });
  });

  test('a scalar operand a=[] b=[2] throws ShapeError', () => {
    expectError(() => matmul(f32([]), f32([2])), ShapeError, {
      op: 'matmul',
      arg: 'a',
      expected: 'at least 1 axis',
    });
  });

  test('dtype mismatch a=float32 b=float64 throws DTypeError', () => {
    expectError(() => matmul(f32([2, 2]), f64([2, 2])), DTypeError, {
      op: 'matmul',
      arg: 'b',
      expected: 'float32',
      actual: 'float64',
    });
  });
});

describe('data length not matching shape', () => {
  test('tensor values=3 shape=[2,2] throws ShapeError', () => {
    expectError(() => tensor([1, 2, 3], { shape: [2, 2] }), ShapeError, {
      op: 'tensor',
      arg: 'shape',
      expected: '3 values',
      actual: '[2,2]',
      message: 'tensor: data has 3 values but shape [2,2] needs 4',
    });
  });

  test('new Tensor data=3 shape=[2,2] throws ShapeError', () => {
    expectError(() => new Tensor(new Float32Array(3), [2, 2]), ShapeError, {
      op: 'Tensor',
      arg: 'data',
      expected: '4 values for shape [2,2]',
      actual: '3',
    });
  });

  test('ragged nested array [[1,2],[3]] throws ShapeError naming the path', () => {
    expectError(() => tensor([[1, 2], [3]]), ShapeError, {
      op: 'tensor',
      arg: 'values[1]',
      expected: 'length 2',
      actual: 'length 1',
    });
  });

  test('reshape x=[2,3] shape=[4] throws ShapeError', () => {
    expectError(() => reshape(f32([2, 3]), [4]), ShapeError, {
      op: 'reshape',
      arg: 'shape',
      expected: '6 elements',
      actual: '[4]',
      message: 'reshape: cannot reshape [2,3] (6 elements) to [4]',
    });
  });

  test('reshape x=[2,3] shape=[-1,4] throws ShapeError', () => {
    expectError(() => reshape(f32([2, 3]), [-1, 4]), ShapeError, {
      op: 'reshape',
      actual: '[-1,4]',
    });
  });
});

describe('bad or repeated axis', () => {
  test.each([
    ['sum', sum],
    ['max', max],
    ['mean', mean],
  ] as const)('%s axis=2 on x=[2,3] throws AxisError', (op, fn) => {
    expectError(() => fn(f32([2, 3]), 2), AxisError, {
      op,
      arg: 'axis',
      expected: 'an integer in [-2, 1]',
      actual: '2',
      message: `${op}: axis 2 is out of range for a tensor of rank 2`,
    });
  });

  test.each([
    ['sum', sum],
    ['max', max],
    ['mean', mean],
  ] as const)('%s axis=[0,-2] (repeated) on x=[2,3] throws AxisError', (op, fn) => {
    expectError(() => fn(f32([2, 3]), [0, -2]), AxisError, {
      op,
      arg: 'axis',
      expected: 'distinct axes',
      actual: '[0,-2]',
    });
  });

  test('sum axis=0.5 (not an integer) throws AxisError', () => {
    expectError(() => sum(f32([2, 3]), 0.5), AxisError, { op: 'sum', actual: '0.5' });
  });

  test('sum axis=-3 on x=[2,3] throws AxisError', () => {
    expectError(() => sum(f32([2, 3]), -3), AxisError, { op: 'sum', actual: '-3' });
  });

  test('permute axes=[0,0] (repeated) throws AxisError', () => {
    expectError(() => permute(f32([2, 3]), [0, -2]), AxisError, {
      op: 'permute',
      arg: 'axes',
      expected: 'each axis once',
      actual: '[0,-2]',
    });
  });

  test('permute axes=[1] on x=[2,3] (too few) throws AxisError', () => {
    expectError(() => permute(f32([2, 3]), [1]), AxisError, {
      op: 'permute',
      arg: 'axes',
      expected: '2 axes',
    });
  });

  test('permute axes=[0,2] on x=[2,3] throws AxisError', () => {
    expectError(() => permute(f32([2, 3]), [0, 2]), AxisError, { op: 'permute', arg: 'axes' });
  });

  test('transpose axis1=2 on x=[2,3] throws AxisError', () => {
    expectError(() => transpose(f32([2, 3]), 0, 2), AxisError, { op: 'transpose', arg: 'axis1' });
  });

  test('concat axis=2 on x=[2,3] throws AxisError', () => {
    expectError(() => concat([f32([2, 3])], 2), AxisError, { op: 'concat', arg: 'axis' });
  });

  test('gather axis=-3 on x=[2,3] throws AxisError', () => {
    expectError(() => gather(f32([2, 3]), -3, f32([2, 3])), AxisError, { op: 'gather' });
  });
});

describe('reshape with -1', () => {
  test('shape=[-1,-1] (-1 twice) throws ShapeError', () => {
    expectError(() => reshape(f32([2, 3]), [-1, -1]), ShapeError, {
      op: 'reshape',
      arg: 'shape',
      expected: 'at most one -1',
      actual: '[-1,-1]',
      message: 'reshape: shape [-1,-1] has more than one -1',
    });
  });

  test('shape=[-1,-2] throws ValueError showing the shape as given (the -1 not shown as 0)', () => {
    expectError(() => reshape(f32([6]), [-1, -2]), ValueError, {
      op: 'reshape',
      arg: 'shape',
      actual: '[-1,-2]',
      message: 'reshape: shape must hold non-negative integer sizes (or one -1), got [-1,-2]',
    });
  });

  test('shape=[-2,3] throws ValueError', () => {
    expectError(() => reshape(f32([2, 3]), [-2, 3]), ValueError, { op: 'reshape', arg: 'shape' });
  });
});

describe('non-integer or negative sizes', () => {
  test.each([
    ['zeros', () => zeros([2.5])],
    ['ones', () => ones([-1])],
    ['full', () => full([2, -3], 1)],
    ['rand', () => rand([1.5])],
    ['randn', () => randn([-2])],
    ['eye', () => eye(2, -1)],
  ])('%s with a bad shape throws ValueError naming the function', (op, fn) => {
    expectError(fn, ValueError, { op, arg: 'shape', expected: 'non-negative integer sizes' });
  });

  test('tensor shape=[2,1.5] throws ValueError', () => {
    expectError(() => tensor([1, 2, 3], { shape: [2, 1.5] }), ValueError, {
      op: 'tensor',
      arg: 'shape',
      actual: '[2,1.5]',
    });
  });

  test('reshape shape=[1.5,4] throws ValueError', () => {
    expectError(() => reshape(f32([6]), [1.5, 4]), ValueError, { op: 'reshape' });
  });

  test('broadcastTo shape=[-1,3] throws ValueError', () => {
    expectError(() => broadcastTo(f32([3]), [-1, 3]), ValueError, { op: 'broadcastTo' });
  });

  test('pad pads=[[1,-1]] throws ValueError', () => {
    expectError(() => pad(f32([2]), [[1, -1]]), ValueError, {
      op: 'pad',
      arg: 'pads[0]',
      actual: '[1,-1]',
    });
  });

  test('pad pads=[[0.5,0]] throws ValueError', () => {
    expectError(() => pad(f32([2]), [[0.5, 0]]), ValueError, { op: 'pad', arg: 'pads[0]' });
  });

  test.each([
    ['kernelSize', { kernelSize: 0 }, '0'],
    ['kernelSize', { kernelSize: [2, 1.5] as const }, '[2,1.5]'],
    ['stride', { kernelSize: 2, stride: 0 }, '0'],
    ['padding', { kernelSize: 2, padding: -1 }, '-1'],
    ['dilation', { kernelSize: 2, dilation: 0.5 }, '0.5'],
  ])('unfold %s=%j throws ValueError', (arg, options, actual) => {
    expectError(() => unfold(f32([1, 1, 4, 4]), options), ValueError, {
      op: 'unfold',
      arg,
      actual,
    });
  });

  test('slice step=0 throws ValueError', () => {
    expectError(() => slice(f32([4]), [[0, 4, 0]]), ValueError, {
      op: 'slice',
      arg: 'ranges[0]',
      actual: '[0,4,0]',
    });
  });

  test('slice start=0.5 throws ValueError', () => {
    expectError(() => slice(f32([4]), [[0.5, 2]]), ValueError, { op: 'slice', arg: 'ranges[0]' });
  });

  test.each([
    ['arange(Infinity)', () => arange(Infinity), 'start', 'Infinity'],
    ['arange(NaN)', () => arange(NaN), 'start', 'NaN'],
    ['arange(0, -Infinity, -1)', () => arange(0, -Infinity, -1), 'stop', '-Infinity'],
  ] as const)('%s throws ValueError naming the bound', (_, fn, arg, actual) => {
    expectError(fn, ValueError, {
      op: 'arange',
      arg,
      expected: 'a finite number',
      actual,
      message: `arange: ${arg} must be finite, got ${actual}`,
    });
  });

  test('arange step=0 throws ValueError', () => {
    expectError(() => arange(0, 3, 0), ValueError, { op: 'arange', arg: 'step', actual: '0' });
  });

  test('Rng.int(0) throws ValueError', () => {
    expectError(() => new Rng(1).int(0), ValueError, { op: 'Rng.int', arg: 'n', actual: '0' });
  });

  test('Rng seed=NaN throws ValueError', () => {
    expectError(() => new Rng(NaN), ValueError, { op: 'Rng', arg: 'seed', actual: 'NaN' });
  });
});

describe('dtype mismatch between operands', () => {
  test.each(['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'gt', 'eq'])(
    '%s a=float32 b=float64 throws DTypeError',
    (op) => {
      const fn = (lib as unknown as Record<string, (a: Tensor, b: Tensor) => Tensor>)[op]!;
      expectError(() => fn(f32([2]), f64([2])), DTypeError, {
        op,
        arg: 'b',
        expected: 'float32',
        actual: 'float64',
        message: `${op}: operands have different dtypes: a is float32 [2], b is float64 [2]`,
      });
    },
  );

  test('add of two numbers throws DTypeError', () => {
    expectError(() => add(1, 2), DTypeError, { op: 'add', arg: 'a', actual: 'two numbers' });
  });

  test('where cond=float32 a=float64 throws DTypeError', () => {
    expectError(() => where(f32([2]), f64([2]), 0), DTypeError, {
      op: 'where',
      arg: 'cond',
      expected: 'float64',
      actual: 'float32',
    });
  });

  test('concat xs=[float32, float64] throws DTypeError', () => {
    expectError(() => concat([f32([2]), f64([2])]), DTypeError, {
      op: 'concat',
      arg: 'xs[1]',
      expected: 'float32',
      actual: 'float64',
    });
  });

  test('scatterAdd x=float32 src=float64 throws DTypeError', () => {
    expectError(() => scatterAdd(f32([3]), 0, f32([2]), f64([2])), DTypeError, {
      op: 'scatterAdd',
      arg: 'src',
      expected: 'float32',
      actual: 'float64',
    });
  });

  test('tensor dtype=int32 throws DTypeError', () => {
    expectError(() => tensor([1], { dtype: 'int32' as 'float32' }), DTypeError, {
      op: 'tensor',
      arg: 'dtype',
      expected: 'float32 or float64',
      actual: 'int32',
    });
  });

  test('backward gy=float64 for a float32 output throws DTypeError', () => {
    const x = f32([2]).requireGrad();
    expectError(() => mul(x, 2).backward(f64([2])), DTypeError, {
      op: 'backward',
      arg: 'gy',
      expected: 'float32',
      actual: 'float64',
    });
  });
});

describe('backward', () => {
  test('on a non-scalar x=[2,3] without gy throws GradientError', () => {
    const x = f32([2, 3]).requireGrad();
    expectError(() => mul(x, 2).backward(), GradientError, {
      op: 'backward',
      arg: 'gy',
      expected: 'a scalar output or an explicit gy',
      actual: '[2,3]',
      message: 'backward: backward on a non-scalar tensor of shape [2,3] needs gy',
    });
  });

  test('with gy=[3] for an output [2,3] throws ShapeError', () => {
    const x = f32([2, 3]).requireGrad();
    expectError(() => mul(x, 2).backward(f32([3])), ShapeError, {
      op: 'backward',
      arg: 'gy',
      expected: '[2,3]',
      actual: '[3]',
    });
  });

  test('on a constant throws GradientError', () => {
    expectError(() => sum(f32([2])).backward(), GradientError, { op: 'backward', arg: 'this' });
  });

  test('through gt (no gradient) throws GradientError naming gt', () => {
    const x = f32([2]).requireGrad();
    expectError(() => sum(gt(x, 0)).backward(), GradientError, {
      op: 'gt',
      arg: '',
      expected: 'a differentiable op',
      actual: 'gt (no gradient)',
      message: /^gt: gt has no gradient; detach\(\) its result or use where\(\)/,
    });
  });

  test('requireGrad on an op result throws GradientError', () => {
    const y = mul(f32([2]).requireGrad(), 2);
    expectError(() => y.requireGrad(), GradientError, {
      op: 'requireGrad',
      arg: 'this',
      expected: 'a leaf tensor',
      actual: 'result of mul',
    });
  });
});

describe('windows', () => {
  test('unfold x=[1,1,3,3] k=4 (window larger than the input) throws ShapeError', () => {
    expectError(() => unfold(f32([1, 1, 3, 3]), { kernelSize: 4 }), ShapeError, {
      op: 'unfold',
      arg: 'kernelSize',
      expected: 'a window within the padded input 3x3',
      actual: '4x4',
      message:
        'unfold: window 4x4 (kernel 4x4, dilation 1x1) is larger than the padded input 3x3 of ' +
        '[1,1,3,3]',
    });
  });

  test('unfold x=[1,1,3,3] k=2 d=3 (dilated window 4x4) throws ShapeError', () => {
    expectError(() => unfold(f32([1, 1, 3, 3]), { kernelSize: 2, dilation: 3 }), ShapeError, {
      op: 'unfold',
      actual: '4x4',
    });
  });

  test('unfold x=[1,1,3,3] k=6 p=1 (larger than the padded 5x5) throws ShapeError', () => {
    expectError(() => unfold(f32([1, 1, 3, 3]), { kernelSize: [6, 5], padding: 1 }), ShapeError, {
      op: 'unfold',
      expected: 'a window within the padded input 5x5',
      actual: '6x5',
    });
  });

  test('unfold x=[1,3,3] (not 4-D) throws ShapeError', () => {
    expectError(() => unfold(f32([1, 3, 3]), { kernelSize: 2 }), ShapeError, {
      op: 'unfold',
      arg: 'x',
      expected: '[N, C, H, W]',
      actual: '[1,3,3]',
    });
  });

  test('fold cols=[1,4,5] outputSize=[3,3] k=2 (4 columns expected) throws ShapeError', () => {
    expectError(() => fold(f32([1, 4, 5]), { kernelSize: 2, outputSize: [3, 3] }), ShapeError, {
      op: 'fold',
      arg: 'cols',
      expected: '4 columns (2x2)',
      actual: '5',
    });
  });

  test('fold cols=[1,3,4] k=2 (rows not a multiple of 4) throws ShapeError', () => {
    expectError(() => fold(f32([1, 3, 4]), { kernelSize: 2, outputSize: [3, 3] }), ShapeError, {
      op: 'fold',
      arg: 'cols',
    });
  });

  test('fold outputSize=[2,2] k=3 (window larger) throws ShapeError', () => {
    expectError(() => fold(f32([1, 9, 1]), { kernelSize: 3, outputSize: [2, 2] }), ShapeError, {
      op: 'fold',
      arg: 'kernelSize',
    });
  });
});

describe('indexing', () => {
  test('gather index value 3 on an axis of 3 throws ValueError', () => {
    expectError(() => gather(f32([2, 3]), 1, tensor([[0], [3]])), ValueError, {
      op: 'gather',
      arg: 'index',
      expected: 'integers in [-3, 2]',
      actual: '3',
    });
  });

  test('gather index value 0.5 throws ValueError', () => {
    expectError(() => gather(f32([3]), 0, tensor([0.5])), ValueError, {
      op: 'gather',
      actual: '0.5',
    });
  });

  test('gather index of rank 1 for x=[2,3] throws ShapeError', () => {
    expectError(() => gather(f32([2, 3]), 1, f32([2])), ShapeError, {
      op: 'gather',
      arg: 'index',
      expected: 'rank 2',
      actual: '[2]',
    });
  });

  test('gather index=[3,1] for x=[2,3] axis=1 (larger off the axis) throws ShapeError', () => {
    expectError(() => gather(f32([2, 3]), 1, f32([3, 1])), ShapeError, {
      op: 'gather',
      arg: 'index',
      expected: 'axis 0 at most 2',
    });
  });

  test('scatterAdd src=[2] index=[3] throws ShapeError', () => {
    expectError(() => scatterAdd(f32([4]), 0, f32([3]), f32([2])), ShapeError, {
      op: 'scatterAdd',
      arg: 'src',
      expected: '[3]',
      actual: '[2]',
    });
  });
});

describe('other shape checks', () => {
  test('slice with 3 ranges for x=[2,2] throws ShapeError', () => {
    expectError(() => slice(f32([2, 2]), [null, null, null]), ShapeError, {
      op: 'slice',
      arg: 'ranges',
      expected: 'at most 2 ranges',
      actual: '3',
    });
  });

  test('pad with 2 pairs for x=[2] throws ShapeError', () => {
    expectError(
      () =>
        pad(f32([2]), [
          [1, 1],
          [1, 1],
        ]),
      ShapeError,
      { op: 'pad', arg: 'pads', actual: '2' },
    );
  });

  test('concat of nothing throws ValueError', () => {
    expectError(() => concat([]), ValueError, { op: 'concat', arg: 'xs' });
  });

  test('concat xs=[2,3],[2,4] axis=0 throws ShapeError', () => {
    expectError(() => concat([f32([2, 3]), f32([2, 4])], 0), ShapeError, {
      op: 'concat',
      arg: 'xs[1]',
      expected: '[-1,3]',
      actual: '[2,4]',
    });
  });

  test('max over an empty axis x=[2,0] axis=1 throws ShapeError', () => {
    expectError(() => max(f32([2, 0]), 1), ShapeError, { op: 'max', arg: 'x', actual: '[2,0]' });
  });

  test('item of x=[2] throws ShapeError', () => {
    expectError(() => f32([2]).item(), ShapeError, { op: 'item', actual: '[2]' });
  });
});

describe('functional API', () => {
  test('grad of a function returning [2] throws GradientError', () => {
    expectError(() => grad((x: Tensor) => mul(x, 2))(f64([2])), GradientError, {
      op: 'grad',
      arg: 'f',
      actual: '[2]',
    });
  });

  test('grad argnums=1 on a number argument throws GradientError', () => {
    const f = (x: Tensor, k: number): Tensor => sum(mul(x, k));
    expectError(() => grad(f, { argnums: 1 })(f64([2]), 3), GradientError, {
      op: 'grad',
      arg: 'args[1]',
      expected: 'a Tensor',
      actual: 'number',
    });
  });

  test('grad of a function of no tensor throws GradientError', () => {
    expectError(() => grad((k: number) => f64([k]))(1 as never), GradientError, {
      op: 'grad',
      arg: 'args',
    });
  });

  test('valueAndGrad errors name valueAndGrad, not grad', () => {
    expectError(() => valueAndGrad((x: Tensor) => mul(x, 2))(f64([2])), GradientError, {
      op: 'valueAndGrad',
      arg: 'f',
      actual: '[2]',
    });
    const f = (x: Tensor, k: number): Tensor => sum(mul(x, k));
    expectError(() => valueAndGrad(f, { argnums: 1 })(f64([2]), 3), GradientError, {
      op: 'valueAndGrad',
      arg: 'args[1]',
    });
  });

  test('vjp pullback with gy=[3] for an output [2] throws ShapeError', () => {
    const [, back] = vjp((x) => mul(x, 2), f64([2]));
    expectError(() => back(f64([3])), ShapeError, { op: 'vjp', arg: 'gy', expected: '[2]' });
  });

  test('customVjp rule returning 2 cotangents for 1 input throws GradientError', () => {
    const f = customVjp(
      (x: Tensor) => mul(x, 2),
      (gy) => [gy, gy],
      { name: 'twice' },
    );
    expectError(() => sum(f(f64([2]).requireGrad())).backward(), GradientError, {
      op: 'twice',
      arg: 'vjp',
      expected: '1 cotangents',
      actual: '2',
    });
  });

  test('customVjp rule returning a float32 cotangent for a float64 input throws DTypeError', () => {
    const f = customVjp(
      (x: Tensor) => mul(x, 2),
      (gy) => [gy.astype('float32')],
      { name: 'lossy' },
    );
    expectError(() => sum(f(f64([2]).requireGrad())).backward(), DTypeError, {
      op: 'lossy',
      arg: 'vjp[0]',
      expected: 'float64',
      actual: 'float32',
    });
  });

  test('customVjp rule returning a cotangent of shape [3] for an input [2] throws ShapeError', () => {
    const f = customVjp(
      (x: Tensor) => sum(x),
      () => [f64([3])],
      { name: 'misshapen' },
    );
    expectError(() => f(f64([2]).requireGrad()).backward(), ShapeError, {
      op: 'misshapen',
      arg: 'gy',
      expected: '[2]',
      actual: '[3]',
    });
  });
});
