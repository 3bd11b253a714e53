import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { expandNodeName } from './nodename.js';

describe('expandNodeName', () => {
  const host = 'web1.example.com';

  it('defaults to celery@<hostname>', () => {
    expect(expandNodeName(undefined, host)).toBe('celery@web1.example.com');
    expect(expandNodeName(undefined)).toBe(`celery@${hostname()}`);
  });

  it('expands %h (full host), %n (first label), %d (domain) and %% (percent)', () => {
    expect(expandNodeName('w@%h', host)).toBe('w@web1.example.com');
    expect(expandNodeName('%n@%d', host)).toBe('web1@example.com');
    expect(expandNodeName('w%%1@%n', host)).toBe('w%1@web1');
    expect(expandNodeName('a@%n.%d', host)).toBe('a@web1.example.com');
  });

  it('gives an empty domain for a host without dots', () => {
    expect(expandNodeName('%n@%h|%d|', 'box')).toBe('box@box||');
  });

  it('prefixes celery@ to a name without @', () => {
    expect(expandNodeName('worker1', host)).toBe('celery@worker1');
    expect(expandNodeName('%n', host)).toBe('celery@web1');
  });

  it('keeps a name with @ as is, and leaves unknown placeholders alone', () => {
    expect(expandNodeName('emails@box', host)).toBe('emails@box');
    expect(expandNodeName('x%y@%h', host)).toBe('x%y@web1.example.com');
  });

  it('does not expand the result of an expansion again', () => {
    expect(expandNodeName('%%h@x', host)).toBe('%h@x');
  });
});
