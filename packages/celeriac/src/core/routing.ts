/**
 * @module core/routing
 * `taskRoutes`: which queue a task goes to. Exact names win over globs; among globs the first
 * one (in insertion order) that matches wins. `*` in a glob matches any run of characters.
 */
import type { RouteTarget, TaskRoutes } from './settings.js';

/** Where a message goes. */
export interface Route {
  queue: string;
  exchange: string;
  routingKey: string;
  priority?: number;
}

/** Compiles a routes table once into a lookup function. */
export function compileRoutes(routes: TaskRoutes): (taskName: string) => Route | null {
  const exact = new Map<string, RouteTarget>();
  const globs: [RegExp, RouteTarget][] = [];
  for (const [pattern, target] of Object.entries(routes)) {
    if (pattern.includes('*')) {
      const source = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
      globs.push([new RegExp(`^${source}$`), target]);
    } else {
      exact.set(pattern, target);
    }
  }
  return (taskName) => {
    const target = exact.get(taskName) ?? globs.find(([re]) => re.test(taskName))?.[1];
    return target === undefined ? null : toRoute(target);
  };
}

function toRoute(target: RouteTarget): Route {
  if (typeof target === 'string') return { queue: target, exchange: '', routingKey: target };
  const route: Route = { queue: target.queue, exchange: target.exchange ?? '', routingKey: target.routingKey ?? target.queue };
  if (target.priority !== undefined) route.priority = target.priority;
  return route;
}
