/** Window errors raised inside a composite name the nn op the user called, with their fields. */
import { describe, expect, test } from 'vitest';
import { ShapeError, ValueError, zeros } from '@tapegrad/autograd';
import { avgPool2d, conv2d, maxPool2d } from '@tapegrad/nn';

describe('window errors name the nn op', () => {
  test('conv2d x=[1,1,3,3] w=[2,1,5,5]: kernel larger than the input', () => {
    const run = (): unknown => conv2d(zeros([1, 1, 3, 3]), zeros([2, 1, 5, 5]));
    expect(run).toThrow(ShapeError);
    expect(run).toThrow(/^conv2d: window 5x5/);
    try {
      run();
    } catch (e) {
      expect((e as ShapeError).op).toBe('conv2d');
      expect((e as ShapeError).arg).toBe('kernelSize');
    }
  });

  test('conv2d stride 0 is a ValueError on stride', () => {
    const run = (): unknown =>
      conv2d(zeros([1, 1, 3, 3]), zeros([2, 1, 2, 2]), null, { stride: 0 });
    expect(run).toThrow(ValueError);
    expect(run).toThrow(/^conv2d: stride must be/);
  });

  test('maxPool2d and avgPool2d k=5 on 3x3 name themselves', () => {
    expect(() => maxPool2d(zeros([1, 1, 3, 3]), { kernelSize: 5 })).toThrow(/^maxPool2d: window/);
    expect(() => avgPool2d(zeros([1, 1, 3, 3]), { kernelSize: 5 })).toThrow(/^avgPool2d: window/);
  });
});
