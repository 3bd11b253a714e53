import { describe, expect, it } from 'vitest';
import { arityProblem, functionArity, parameterList } from './arity.js';

const upTo = (n: number) => (i: number) => i < n;

describe('parameterList', () => {
  it.each([
    ['(a, b) => a + b', ['a', 'b'], false],
    ['x => x', ['x'], false],
    ['async x => x', ['x'], false],
    ['async (x, y) => x', ['x', 'y'], false],
    ['function add(a, b = 2) { return a + b; }', ['a', 'b = 2'], false],
    ['async function named(a, ...rest) {}', ['a', '...rest'], true],
    ['({ a, b }, [c, d], e = f(1, 2), g = "x,)", h = `(,`) => 0', ['{ a, b }', '[c, d]', 'e = f(1, 2)', 'g = "x,)"', 'h = `(,`'], false],
    ['(a /* , b */, c // , d\n) => 0', ['a', 'c'], false],
    ['() => 1', [], false],
    ['method(a) { return a; }', ['a'], false],
  ])('%s', (source, params, rest) => {
    expect(parameterList(source)).toEqual({ params, rest });
  });

  it('refuses what is not a readable function', () => {
    expect(parameterList('function () { [native code] }')).toBeNull();
    expect(parameterList('class A {}')).toBeNull();
  });
});

describe('functionArity and arityProblem, in CPython words', () => {
  it('too few: the missing names, listed as Python lists them', () => {
    const add = functionArity((x: number, y: number) => x + y, 'tasks.add', false);
    expect(add).toEqual({ name: 'add', params: ['x', 'y'], required: 2, max: 2 });
    expect(arityProblem(add, 1, upTo(1))).toBe("add() missing 1 required positional argument: 'y'");
    expect(arityProblem(add, 0, upTo(0))).toBe("add() missing 2 required positional arguments: 'x' and 'y'");
    const three = functionArity((a: number, b: number, c: number) => a + b + c, 'sum3', false);
    expect(arityProblem(three, 0, upTo(0))).toBe("sum3() missing 3 required positional arguments: 'a', 'b', and 'c'");
  });

  it('too many: "takes N positional arguments but M were given", "from N to M" with defaults', () => {
    const add = functionArity((x: number, y: number) => x + y, 'tasks.add', false);
    expect(arityProblem(add, 3, upTo(3))).toBe('add() takes 2 positional arguments but 3 were given');
    const one = functionArity((x: number) => x, 'one', false);
    expect(arityProblem(one, 2, upTo(2))).toBe('one() takes 1 positional argument but 2 were given');
    const none = functionArity(() => 0, 'none', false);
    expect(arityProblem(none, 1, upTo(1))).toBe('none() takes 0 positional arguments but 1 was given');
    const opt = functionArity((x: number, y = 1) => x + y, 'opt', false);
    expect(arityProblem(opt, 1, upTo(1))).toBeNull();
    expect(arityProblem(opt, 3, upTo(3))).toBe('opt() takes from 1 to 2 positional arguments but 3 were given');
  });

  it('a rest parameter has no maximum; a bound task leaves out its context; a named function gives its name', () => {
    const rest = functionArity((first: number, ...more: number[]) => first + more.length, 'r', false);
    expect(rest.max).toBeNull();
    expect(arityProblem(rest, 9, upTo(9))).toBeNull();
    expect(arityProblem(rest, 0, upTo(0))).toBe("r() missing 1 required positional argument: 'first'");
    const bound = functionArity((_ctx: unknown, x: number) => x, 'app.b', true);
    expect(bound).toEqual({ name: 'b', params: ['x'], required: 1, max: 1 });
    function multiply(a: number, b: number) {
      return a * b;
    }
    expect(functionArity(multiply, 'tasks.mul', false).name).toBe('multiply');
  });

  it('keyword arguments fill their positions; `params` names the parameters', () => {
    const f = functionArity((a: number, b: number, c: number) => a + b + c, 'f', false, ['a', 'b', 'c']);
    expect(arityProblem(f, 1, (i) => i < 1 || i === 2)).toBe("f() missing 1 required positional argument: 'b'");
    const pattern = functionArity(({ a }: { a: number }, b: number) => a + b, 'p', false);
    expect(arityProblem(pattern, 0, upTo(0))).toBe("p() missing 2 required positional arguments: 'arg1' and 'b'");
  });

  it('a bound or native function (unreadable source) still gets its required count', () => {
    const fn = ((a: number, b: number) => a + b).bind(null);
    const arity = functionArity(fn, 'x.bound', false);
    expect(arity).toMatchObject({ required: 2, max: null });
    expect(arityProblem(arity, 5, upTo(5))).toBeNull();
    expect(arityProblem(arity, 1, upTo(1))).toBe("bound() missing 1 required positional argument: 'arg2'");
  });
});
