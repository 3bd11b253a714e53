import { describe, expect, it } from 'vitest';
import { App } from './core/app.js';
import { createApp } from './create-app.js';
import { Ignore, Reject, Retry, TaskRevokedError } from './core/task-errors.js';
import { CeleriacError, ErrorCodes, brandClass, coerceError, readableError } from './errors.js';
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
});
