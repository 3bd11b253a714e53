/**
 * @module redis/client-class
 * node-redis's client class with a method per Redis command, built once per process, the way
 * its own factory builds it but without its memory cost.
 *
 * node-redis's `RedisClient.factory(config)` makes a subclass and adds its ~740 command
 * methods to the subclass's prototype one at a time, then does the same for the MULTI class.
 * V8 keeps a prototype's properties in fast mode, copying the prototype's descriptors at each
 * addition: about 12 MB of short-lived copies that live through the young generation's
 * collections and make V8 grow it to its maximum (two 16 MB semi-spaces) at every start. A
 * process that opens a Redis connection then kept ~23 MB more resident for its whole life
 * (client-class.test.ts measures it).
 *
 * Here the methods go on a plain object first, which V8 turns into a dictionary as they come,
 * and that object becomes the parent of the subclass's prototype: the same methods, made the
 * same way, found by the same lookup, at a linear cost. The MULTI class is built the same way
 * on first use (only the chord backend uses it). Each method is made on its first call, and
 * the command table behind them loads a command's module only then (command-table.ts). What is used of node-redis beyond its public
 * API (the command table, the parser, `_executeCommand`, `addCommand`) is pinned by the
 * package lock; client-class.test.ts checks the result against node-redis's own class.
 */
import { createRequire } from 'node:module';
import type { RedisClientOptions, RedisClientType } from '@redis/client';
import { installLazyCommandTable } from './command-table.js';

/** A command of node-redis's table: how it writes its arguments and reads its reply. */
interface CommandSpec {
  parseCommand(parser: CommandParser, ...args: unknown[]): void;
  readonly transformReply?: unknown;
}

interface CommandParser {
  readonly redisArgs: unknown[] & { preserve?: unknown };
  readonly preserve: unknown;
}

/** What a client instance offers its command methods (node-redis's own methods use the same). */
interface ClientSelf {
  readonly _self: { _executeCommand(command: CommandSpec, parser: CommandParser, options: unknown, transformReply: unknown): Promise<unknown> };
  readonly _commandOptions: unknown;
}

interface NodeRedisParts {
  readonly RedisClient: new (options: RedisClientOptions) => object;
  readonly MultiCommand: Constructor;
  readonly commands: Readonly<Record<string, CommandSpec>>;
  readonly Parser: new () => CommandParser;
  getTransformReply(command: CommandSpec, resp: number): unknown;
}

/** A class to extend (TypeScript requires `any[]` of a class a generic one extends). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Constructor = new (...args: any[]) => object;

/** The protocol version node-redis's factory uses when the config names none. */
const RESP = 2;

function loadParts(): NodeRedisParts {
  installLazyCommandTable();
  const require = createRequire(import.meta.url);
  const lib = '@redis/client/dist/lib';
  return {
    RedisClient: (require(`${lib}/client/index.js`) as { default: NodeRedisParts['RedisClient'] }).default,
    MultiCommand: (require(`${lib}/client/multi-command.js`) as { default: NodeRedisParts['MultiCommand'] }).default,
    commands: (require(`${lib}/commands/index.js`) as { default: NodeRedisParts['commands'] }).default,
    Parser: (require(`${lib}/client/parser.js`) as { BasicCommandParser: NodeRedisParts['Parser'] }).BasicCommandParser,
    getTransformReply: (require(`${lib}/commander.js`) as Pick<NodeRedisParts, 'getTransformReply'>).getTransformReply,
  };
}

/**
 * A subclass of `Base` whose instances have a method per command, made by `method`: the
 * methods sit on a plain object between the subclass's prototype and Base's (see the module's
 * comment for why not on the prototype itself). Each is made on its first call, which reads
 * its command from the table (command-table.ts: its module is loaded then) and puts the made
 * method in its own place.
 */
function withCommands<T extends Constructor>(Base: T, parts: NodeRedisParts, method: (command: CommandSpec, transformReply: unknown) => (...args: unknown[]) => unknown): T {
  const table = Object.create(Base.prototype as object) as Record<string, unknown>;
  for (const name of Object.keys(parts.commands)) {
    table[name] = function (this: unknown, ...args: unknown[]): unknown {
      const command = parts.commands[name] as CommandSpec;
      const made = method(command, parts.getTransformReply(command, RESP));
      table[name] = made;
      return made.apply(this, args);
    };
  }
  const Sub = class extends Base {};
  Object.setPrototypeOf(Sub.prototype, table);
  return Sub;
}

/** The client class: node-redis's RedisClient with its command methods and its MULTI class. */
function buildClientClass(parts: NodeRedisParts): new (options: RedisClientOptions) => object {
  const { Parser } = parts;
  const Client = withCommands(parts.RedisClient, parts, (command, transformReply) =>
    async function (this: ClientSelf, ...args: unknown[]) {
      const parser = new Parser();
      command.parseCommand(parser, ...args);
      return this._self._executeCommand(command, parser, this._commandOptions, transformReply);
    },
  );
  let Multi: NodeRedisParts['MultiCommand'] | undefined;
  Object.defineProperty(Client.prototype, 'Multi', {
    get: () =>
      (Multi ??= withCommands(parts.MultiCommand, parts, (command, transformReply) =>
        function (this: { addCommand(args: unknown, transformReply: unknown): unknown }, ...args: unknown[]) {
          const parser = new Parser();
          command.parseCommand(parser, ...args);
          const redisArgs = parser.redisArgs;
          redisArgs.preserve = parser.preserve;
          return this.addCommand(redisArgs, transformReply);
        },
      )),
  });
  return Client;
}

let Client: (new (options: RedisClientOptions) => object) | undefined;

/**
 * A new node-redis client with every core command, as `createClient(options)` makes it (an
 * object whose prototype is the client, as node-redis's factory returns); not connected.
 * Exported from `celeriac/spi` for apps and adapters that open Redis connections of their own.
 *
 * @example
 * const client = newRedisClient({ url: 'redis://localhost:6379/0' });
 * await client.connect();
 */
export function newRedisClient(options: RedisClientOptions): RedisClientType {
  Client ??= buildClientClass(loadParts());
  return Object.create(new Client(options)) as RedisClientType;
}
