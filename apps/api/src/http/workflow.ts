/**
 * @module http/workflow
 * Workflows sent as JSON: a task, or a chain, group or chord of workflows. The schema
 * validates the shape; {@link buildWorkflow} checks every name against the allow-list,
 * bounds the size, and builds the Celeriac canvas from it.
 */
import { chain, chord, group, signature, type AnyComposable, type App, type Json, type JsonObject } from 'celeriac';
import { Type, type Static } from '@sinclair/typebox';
import { checkAllowed } from './allow-list.js';
import { HttpError } from './errors.js';
import { CallOptions, checkEta, Kwargs, TaskName } from './schemas.js';

/** Most tasks in one workflow. */
export const MAX_WORKFLOW_TASKS = 200;

const TaskNode = Type.Object(
  {
    task: TaskName,
    args: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 100 })),
    kwargs: Type.Optional(Kwargs),
    options: Type.Optional(CallOptions),
    immutable: Type.Optional(Type.Boolean({ description: 'Do not receive the previous step\'s result' })),
  },
  { additionalProperties: false },
);

/** A workflow description. */
export const Workflow = Type.Recursive(
  (Self) =>
    Type.Union([
      TaskNode,
      Type.Object({ chain: Type.Array(Self, { minItems: 1, maxItems: 100 }) }, { additionalProperties: false }),
      Type.Object({ group: Type.Array(Self, { minItems: 1, maxItems: 100 }) }, { additionalProperties: false }),
      Type.Object({ chord: Type.Object({ header: Type.Array(Self, { minItems: 1, maxItems: 100 }), body: Self }, { additionalProperties: false }) }, { additionalProperties: false }),
    ]),
  { $id: 'Workflow', description: 'A task ({task, args, kwargs, options, immutable}), or {chain: [...]}, {group: [...]}, {chord: {header: [...], body}}' },
);
export type Workflow = Static<typeof Workflow>;

/** The kind of the top node. */
export function workflowKind(w: Workflow): 'task' | 'chain' | 'group' | 'chord' {
  return 'task' in w ? 'task' : 'chain' in w ? 'chain' : 'group' in w ? 'group' : 'chord';
}

/** Builds the canvas; throws 403 for a name off the list, 404 for one not registered and 400 for a workflow too large. */
export function buildWorkflow(celery: App, w: Workflow, allowed: (name: string) => boolean): AnyComposable {
  let count = 0;
  const build = (node: Workflow): AnyComposable => {
    if ('task' in node) {
      count += 1;
      if (count > MAX_WORKFLOW_TASKS) throw new HttpError(400, 'WORKFLOW_TOO_LARGE', `a workflow may hold at most ${MAX_WORKFLOW_TASKS} tasks`);
      checkAllowed(allowed, node.task, (name) => celery.lookup(name) !== undefined);
      checkEta(node.options);
      const sig = signature(node.task, (node.args ?? []) as Json[], (node.kwargs ?? {}) as JsonObject, node.options ?? {}, celery);
      return node.immutable === true ? sig.clone({ immutable: true }) : sig;
    }
    if ('chain' in node) return chain(...(node.chain.map(build) as [AnyComposable])) as AnyComposable;
    if ('group' in node) return group(node.group.map(build)) as AnyComposable;
    return chord(node.chord.header.map(build), build(node.chord.body) as never) as AnyComposable;
  };
  return build(w);
}
