import { describe, expect, it } from 'vitest';
import { compileRoutes } from './routing.js';

describe('compileRoutes', () => {
  const route = compileRoutes({
    'proj.*': 'globbed',
    'proj.emails.*': 'never-reached',
    'proj.add': { queue: 'math', priority: 3 },
    'a.b.c': { queue: 'q', routingKey: 'rk', exchange: 'ex' },
  });

  it('prefers an exact name over a glob', () => {
    expect(route('proj.add')).toEqual({ queue: 'math', exchange: '', routingKey: 'math', priority: 3 });
  });

  it('uses the first matching glob', () => {
    expect(route('proj.emails.send')?.queue).toBe('globbed');
  });

  it('keeps routing details and treats dots literally', () => {
    expect(route('a.b.c')).toEqual({ queue: 'q', exchange: 'ex', routingKey: 'rk' });
    expect(route('aXbXc')).toBeNull();
  });

  it('returns null when nothing matches', () => {
    expect(route('other.task')).toBeNull();
  });
});
