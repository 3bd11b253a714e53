/**
 * @module cli/path-template
 * Placeholders of `--pidfile` and `--logfile`, as Celery's `node_format`: `%p` the full node
 * name (`w1@host.example`), `%n` its name part (`w1`), `%h` its host part, `%d` the host's
 * domain, `%i` the pool process index (0: the worker itself, which writes these files),
 * `%I` the same with a separator (empty for the worker), `%%` a percent sign.
 */

/** Expands the placeholders of `template` for node `nodename`. */
export function expandPathTemplate(template: string, nodename: string, index = 0): string {
  const at = nodename.indexOf('@');
  const name = at < 0 ? nodename : nodename.slice(0, at);
  const host = at < 0 ? '' : nodename.slice(at + 1);
  const dot = host.indexOf('.');
  const domain = dot < 0 ? '' : host.slice(dot + 1);
  return template.replace(/%([pnhdiI%])/g, (_m, c: string) => {
    switch (c) {
      case 'p':
        return nodename;
      case 'n':
        return name;
      case 'h':
        return host;
      case 'd':
        return domain;
      case 'i':
        return String(index);
      case 'I':
        return index === 0 ? '' : `-${index}`;
      default:
        return '%';
    }
  });
}
