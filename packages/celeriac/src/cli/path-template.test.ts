import { describe, expect, it } from 'vitest';
import { expandPathTemplate } from './path-template.js';

describe('expandPathTemplate', () => {
  it("expands Celery's node_format placeholders", () => {
    const node = 'w1@box.example.com';
    expect(expandPathTemplate('/var/run/%n.pid', node)).toBe('/var/run/w1.pid');
    expect(expandPathTemplate('%p|%h|%d', node)).toBe('w1@box.example.com|box.example.com|example.com');
    expect(expandPathTemplate('%n%I.log', node)).toBe('w1.log');
    expect(expandPathTemplate('%n%I.log', node, 3)).toBe('w1-3.log');
    expect(expandPathTemplate('%n-%i.log', node)).toBe('w1-0.log');
    expect(expandPathTemplate('100%%-%x', node)).toBe('100%-%x');
  });

  it('a node name without @ is all name', () => {
    expect(expandPathTemplate('%n|%h|%d', 'solo')).toBe('solo||');
  });
});
