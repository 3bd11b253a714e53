import { describe, expect, it } from 'vitest';
import { App } from './core/app.js';
import { createApp } from './create-app.js';
import { Ignore, Reject, Retry, TaskRevokedError } from './core/task-errors.js';
import { CeleriacError, ErrorCodes, brandClass, clipText, coerceError, loggableError, readableError } from './errors.js';
import { ProtocolError } from './protocol/errors.js';

// The classes another copy of the package would define: same names and brands, other identities
// (test/cli/two-copies.test.ts runs a real second copy through the CLI).
class CopyCeleriacError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}
brandClass(CopyCeleriacError, 'CeleriacError');
class CopyReject extends CopyCeleriacError {
  constructor(readonly requeue = false) {
    super(ErrorCodes.REJECT, 'rejected');
  }
}
brandClass(CopyReject, 'Reject');
class CopyIgnore extends CopyCeleriacError {}
brandClass(CopyIgnore, 'Ignore');
class CopyApp {}
brandClass(CopyApp, 'App');

describe('instanceof across copies of the package (brands)', () => {
  it("knows another copy's errors by their brand: Reject, Ignore and the CeleriacError base", () => {
    expect(new CopyReject() instanceof Reject).toBe(true);
    expect(new CopyReject() instanceof CeleriacError).toBe(true);
    expect(new CopyIgnore('x', 'y') instanceof Ignore).toBe(true);
    expect(new CopyReject() instanceof Ignore).toBe(false);
    expect(new CopyReject() instanceof Retry).toBe(false);
    expect(new CopyIgnore('x', 'y') instanceof Reject).toBe(false);
    expect(new CopyCeleriacError(ErrorCodes.TRANSPORT, 'down') instanceof ProtocolError).toBe(false);
    expect(new CopyApp() instanceof App).toBe(true);
    expect(createApp({}, { env: {} }) instanceof App).toBe(true);
  });

  it('leaves what is not branded alone: plain errors, look-alikes, primitives', () => {
    class Reject2 extends Error {
      readonly code = ErrorCodes.REJECT;
    }
    for (const value of [new Error('x'), new Reject2(), { code: ErrorCodes.REJECT }, null, undefined, 'Reject', 3, Object.create(null)]) {
      expect(value instanceof Reject).toBe(false);
      expect(value instanceof CeleriacError).toBe(false);
    }
  });

  it("a user's subclass keeps the ordinary instanceof: its instances are Rejects, a Reject is not one of it", () => {
    class Requeue extends Reject {
      constructor() {
        super({ reason: 'again', requeue: true });
      }
    }
    expect(new Requeue() instanceof Reject).toBe(true);
    expect(new Requeue() instanceof CeleriacError).toBe(true);
    expect(new Requeue() instanceof Requeue).toBe(true);
    expect(new Reject({ reason: 'x' }) instanceof Requeue).toBe(false);
    expect(new CopyReject() instanceof Requeue).toBe(false);
    expect(new TaskRevokedError('revoked') instanceof Requeue).toBe(false);
  });
});

describe('readableError', () => {
  it('keeps a readable error, and replaces one whose message or stack throws when read', () => {
    const plain = new TypeError('fine');
    expect(readableError(plain)).toBe(plain);
    const getter = new RangeError('x');
    Object.defineProperty(getter, 'message', {
      get() {
        throw new Error('boom');
      },
    });
    const replaced = readableError(getter);
    expect(replaced).not.toBe(getter);
    expect(replaced.message).toBe('<unprintable RangeError object>');
    const stack = new Error('y');
    Object.defineProperty(stack, 'stack', {
      get() {
        throw new Error('boom');
      },
    });
    expect(readableError(stack).message).toBe('<unprintable Error object>');
  });

  it('turns null, undefined and values that cannot be printed into errors', () => {
    expect(readableError(null).message).toBe('Non-error thrown: null');
    expect(readableError(undefined).message).toBe('Non-error thrown: undefined');
    const hostile = {
      toJSON() {
        throw new Error('no json');
      },
      toString() {
        throw new Error('no text');
      },
    };
    expect(readableError(hostile).message).toBe('Non-error thrown: <unprintable value>');
    expect(coerceError(hostile).message).toBe('Non-error thrown: <unprintable value>');
  });

  it('a revoked Proxy, whose every trap throws (instanceof too), is an unprintable value and an instance of none of our errors', () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(() => proxy instanceof Error).toThrow(TypeError);
    expect(coerceError(proxy).message).toBe('Non-error thrown: <unprintable value>');
    expect(readableError(proxy).message).toBe('Non-error thrown: <unprintable value>');
    for (const cls of [CeleriacError, Retry, Reject, Ignore, TaskRevokedError]) expect(proxy instanceof cls).toBe(false);
  });
});

describe('loggableError: an error of code not ours as a log line can carry it', () => {
  it('cuts a cause cycle at 8 causes, keeps primitive properties, and never throws', () => {
    const cyclic = new Error('self') as Error & { code?: string; body?: unknown };
    cyclic.cause = cyclic;
    cyclic.code = 'E_SELF';
    cyclic.body = { huge: 'x'.repeat(100) };
    const out = loggableError(cyclic) as Error & { code?: string; body?: unknown };
    let depth = 0;
    for (let c: unknown = out.cause; c !== undefined; c = (c as Error).cause) depth++;
    expect(depth).toBe(8);
    expect([out.message, out.code, out.body]).toEqual(['self', 'E_SELF', undefined]);
    const hostile = new Error('unused');
    Object.defineProperty(hostile, 'message', { get: () => { throw new Error('no'); } });
    expect(loggableError(hostile).message).toBe('<unprintable Error object>');
    expect(loggableError('plain text').message).toBe('plain text');
    expect(loggableError(new Error('y'.repeat(1_000_000))).message.length).toBeLessThan(70_000);
  });
});

describe('clipText', () => {
  it('keeps a text up to the bound, else its start and end with what was left out', () => {
    expect(clipText('abc', 1000, 'this event')).toBe('abc');
    const out = clipText('a'.repeat(600) + 'b'.repeat(600), 1000, 'this log line');
    expect(out).toBe(`${'a'.repeat(436)}\n... [328 characters left out of this log line] ...\n${'b'.repeat(436)}`);
  });
});
