import { describe, expect, it } from 'vitest';
import type { TaskRequest } from './context.js';
import { currentTask, runAsCurrentTask } from './current-task.js';

const request = (id: string) => ({ id }) as TaskRequest;
const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

describe('runAsCurrentTask', () => {
  it('gives a plain function its request while it runs, and nothing after', () => {
    const seen = runAsCurrentTask(request('a'), () => currentTask()?.id, []);
    expect(seen).toBe('a');
    expect(currentTask()).toBeUndefined();
  });

  it('follows an async function across its awaits', async () => {
    const seen: (string | undefined)[] = [];
    const done = runAsCurrentTask(
      request('b'),
      async (tag: string) => {
        seen.push(`${tag}${currentTask()?.id}`);
        await turn();
        seen.push(`${tag}${currentTask()?.id}`);
      },
      ['>'],
    );
    expect(currentTask()).toBeUndefined();
    await done;
    expect(seen).toEqual(['>b', '>b']);
  });

  it('an async function called inside a plain one sees its own request, before and after an await', async () => {
    const seen: (string | undefined)[] = [];
    const inner = runAsCurrentTask(
      request('outer'),
      () => {
        seen.push(currentTask()?.id);
        const p = runAsCurrentTask(
          request('inner'),
          async () => {
            seen.push(currentTask()?.id);
            await turn();
            seen.push(currentTask()?.id);
          },
          [],
        );
        seen.push(currentTask()?.id);
        return p;
      },
      [],
    );
    await inner;
    expect(seen).toEqual(['outer', 'inner', 'outer', 'inner']);
  });

  it('restores the outer request when the function throws', () => {
    runAsCurrentTask(
      request('outer'),
      () => {
        expect(() =>
          runAsCurrentTask(
            request('inner'),
            () => {
              throw new Error('boom');
            },
            [],
          ),
        ).toThrow('boom');
        expect(currentTask()?.id).toBe('outer');
      },
      [],
    );
  });
});
