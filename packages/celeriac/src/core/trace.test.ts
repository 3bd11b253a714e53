import { describe, expect, it } from 'vitest';
import { createTestApp } from '../testing/test-app.js';
import { bindArguments } from './trace.js';

describe('bindArguments', () => {
  const { app } = createTestApp();
  const withParams = app.task('k.params', { params: ['x', 'y', 'z'] }, (x: number, y: number, z?: number) => x + y + (z ?? 0));
  const without = app.task('k.none', (x: number) => x);

  it('passes args through when there are no kwargs', () => {
    expect(bindArguments(without, [1, 2], {})).toEqual([1, 2]);
  });

  it('places kwargs at the positions named by params', () => {
    expect(bindArguments(withParams, [], { y: 2, x: 1 })).toEqual([1, 2]);
    expect(bindArguments(withParams, [1], { z: 3 })).toEqual([1, undefined, 3]);
  });

  it('fails like Python on unknown or doubled names', () => {
    expect(() => bindArguments(withParams, [], { w: 1 })).toThrow(/unexpected keyword argument 'w'/);
    expect(() => bindArguments(withParams, [1], { x: 1 })).toThrow(/multiple values for argument 'x'/);
    expect(() => bindArguments(without, [], { x: 1 })).toThrow(TypeError);
    expect(() => bindArguments(without, [], { x: 1 })).toThrow(/declare the task option `params`/);
  });
});
