import { describe, expect, it } from 'vitest';
import { blockCandidates, chooseRareWords, RARE_BLOCKS, wordBlocks } from '../store/word-blocks.js';
import type { TaskWrite } from '../store/fold-events.js';
import { compileQuery, parseQuery, QUERY_LIMITS, QuerySyntaxError, searchTextTerms, searchToSql, SqlParams, termWords } from './index.js';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);

function sql(search: string): { text: string | null; params: unknown[] } {
  const params = new SqlParams();
  const text = searchToSql(search, { params, now: NOW });
  return { text, params: params.values };
}

function syntaxError(search: string): QuerySyntaxError {
  try {
    sql(search);
  } catch (err) {
    if (err instanceof QuerySyntaxError) return err;
    throw err;
  }
  throw new Error(`no error for ${search}`);
}

describe('parseQuery', () => {
  it('gives NOT over AND over OR, with juxtaposition as AND', () => {
    expect(parseQuery('a b OR NOT c AND -d')).toEqual({
      kind: 'or',
      children: [
        { kind: 'and', children: [{ kind: 'text', value: 'a', pos: 0 }, { kind: 'text', value: 'b', pos: 2 }] },
        { kind: 'and', children: [{ kind: 'not', child: { kind: 'text', value: 'c', pos: 11 } }, { kind: 'not', child: { kind: 'text', value: 'd', pos: 18 } }] },
      ],
    });
  });

  it('reads fields, operators, quoted values and phrases', () => {
    expect(parseQuery('kwargs.user_id:42')).toMatchObject({ kind: 'field', field: 'kwargs.user_id', op: ':', value: '42', quoted: false });
    expect(parseQuery('args:"a \\"b\\" c"')).toMatchObject({ kind: 'field', field: 'args', value: 'a "b" c', quoted: true });
    expect(parseQuery('runtime>=1.5')).toMatchObject({ field: 'runtime', op: '>=', value: '1.5' });
    expect(parseQuery('name=proj.add')).toMatchObject({ field: 'name', op: ':' });
    expect(parseQuery("'two words'")).toEqual({ kind: 'text', value: 'two words', pos: 0 });
    expect(parseQuery('(a OR b) c')).toMatchObject({ kind: 'and', children: [{ kind: 'or' }, { kind: 'text', value: 'c' }] });
    expect(parseQuery('   ')).toBeNull();
    // lower-case and/or are words, not operators
    expect(parseQuery('rock and roll')).toMatchObject({ kind: 'and', children: [{ value: 'rock' }, { value: 'and' }, { value: 'roll' }] });
  });

  it('reports errors with the position they point at', () => {
    expect(syntaxError('(a OR b').position).toBe(0);
    expect(syntaxError('a OR b)').position).toBe(6);
    expect(syntaxError('a OR b)').reason).toBe('unmatched )');
    expect(syntaxError('a AND').position).toBe(5);
    expect(syntaxError('a AND OR b').reason).toMatch(/expected a term, found OR/);
    expect(syntaxError('args:"open').reason).toMatch(/unterminated quote/);
    expect(syntaxError('args:"open').position).toBe(5);
    expect(syntaxError('state:').reason).toMatch(/needs a value/);
    expect(syntaxError('()').reason).toBe('empty parentheses');
    expect(syntaxError('""').reason).toBe('empty phrase');
    expect(syntaxError('x colour:red').position).toBe(2);
    expect(syntaxError('x colour:red').message).toMatch(/unknown field "colour".*\(at character 3\)/);
    // Names of Object.prototype's members are unknown fields too (they were read as columns: a 500).
    for (const field of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      expect(syntaxError(`${field}:1`).message).toMatch(new RegExp(`unknown field "${field}"`));
    }
  });

  it('bounds hostile queries: length, depth and number of terms', () => {
    expect(syntaxError('a'.repeat(QUERY_LIMITS.maxLength + 1)).reason).toMatch(/longer than/);
    expect(syntaxError(`${'('.repeat(100)}a${')'.repeat(100)}`).reason).toMatch(/nested deeper/);
    expect(syntaxError(`${'NOT '.repeat(100)}a`).reason).toMatch(/nested deeper/);
    expect(syntaxError(Array.from({ length: QUERY_LIMITS.maxTerms + 1 }, (_, i) => `t${i}`).join(' ')).reason).toMatch(/more than/);
    // 10,000 parentheses fail fast instead of overflowing the stack
    expect(() => sql('('.repeat(10_000))).toThrow(QuerySyntaxError);
  });
});

describe('compileQuery', () => {
  it('binds every user value as a parameter', () => {
    const attack = "x'; DROP TABLE tasks; --";
    for (const search of [`"${attack}"`, `name:"${attack}"`, `args:"${attack}"`, `kwargs.k:"${attack}"`, `state:"${attack}"`]) {
      const { text, params } = sql(search);
      expect(text).not.toContain('DROP');
      expect(JSON.stringify(params).toLowerCase()).toContain('drop table');
    }
  });

  it('escapes LIKE wildcards and lower-cases text terms', () => {
    expect(sql('"50%_Off\\\\"')).toEqual({ text: '(search_text LIKE $1)', params: ['%50\\%\\_off\\\\%'] });
  });

  it('matches exact fields with * wildcards and , alternatives', () => {
    expect(sql('name:proj.*')).toEqual({ text: '(name IS NOT NULL AND (name LIKE $1))', params: ['proj.%'] });
    expect(sql('state:failure,retry').params).toEqual(['FAILURE', 'RETRY']);
    expect(sql('worker:"a,b"').params).toEqual(['a,b']);
  });

  it('turns kwargs keys into jsonb containment, numbers matching both types', () => {
    expect(sql('kwargs.user.id:42')).toEqual({
      text: '(kwargs_json @> $1::jsonb OR kwargs_json @> $2::jsonb)',
      params: ['{"user":{"id":"42"}}', '{"user":{"id":42}}'],
    });
    expect(sql('kwargs.flag:true').params).toEqual(['{"flag":"true"}', '{"flag":true}']);
    // Flower's syntax means the same.
    expect(sql('kwargs:user.id=42')).toEqual(sql('kwargs.user.id:42'));
    expect(sql('kwargs:user_id=48 name:proj.add')).toEqual(sql('kwargs.user_id:48 name:proj.add'));
    expect(sql(`kwargs:city="Porto"`).params).toEqual(sql('kwargs.city:"Porto"').params);
    // Not Flower's form: kwargs:text stays a text match.
    expect(sql('kwargs:=x').text).not.toContain('kwargs_json');
    expect(sql('kwargs.amount<=10').params).toEqual([['amount'], 10]);
    expect(syntaxError('kwargs.amount>ten').reason).toMatch(/needs a number/);
  });

  it('reads times: dates, datetimes (UTC unless offset), relative and epoch ms', () => {
    expect(sql('received:2026-11-22').params).toEqual([Date.UTC(2026, 10, 22), Date.UTC(2026, 10, 23)]);
    expect(sql('started>2026-11-22T10:00').params).toEqual([Date.UTC(2026, 10, 22, 10)]);
    expect(sql('started>2026-11-22T10:00+02:00').params).toEqual([Date.UTC(2026, 10, 22, 8)]);
    expect(sql('timestamp>-90m')).toEqual({ text: '(state_ts > $1)', params: [NOW - 90 * 60_000] });
    expect(sql('failed<1795000000000').params).toEqual([1_795_000_000_000]);
    expect(syntaxError('received>yesterday').reason).toMatch(/needs a time/);
    expect(syntaxError('received:-1h').reason).toMatch(/takes a date/);
    expect(syntaxError('name>x').reason).toMatch(/takes ':'/);
    // Postgres refuses a fraction, or a number past its bigint, as a bigint parameter (a 500).
    expect(sql('received>-1.5ms').params).toEqual([NOW - 2]);
    expect(sql('received>=-1.5ms').params).toEqual([NOW - 1]);
    expect(syntaxError('received>99999999999999999999').reason).toMatch(/a time a date can hold/);
  });

  it('compares integer fields as integers, within a bigint', () => {
    expect(sql('retries>1.5')).toEqual({ text: '(retries IS NOT NULL AND retries > $1::bigint)', params: [1] });
    expect(sql('retries>=1.5').params).toEqual([2]);
    expect(sql('retries<1.5').params).toEqual([2]);
    expect(sql('retries<=1.5').params).toEqual([1]);
    expect(sql('retries:1.5')).toEqual({ text: 'FALSE', params: [] });
    expect(sql('retries<1e30').params).toEqual([Number.MAX_SAFE_INTEGER]);
    expect(sql('retries>-1e30').params).toEqual([-Number.MAX_SAFE_INTEGER]);
  });

  it('searches NUL and lone surrogates as the U+FFFD the store keeps', () => {
    expect(sql('"a\u0000b"').params).toEqual(['%a\ufffdb%']);
    expect(sql('kwargs.k:"\ud800"').params).toEqual(['{"k":"\ufffd"}']);
    expect(parseQuery('x\udc00 \ud83d\ude00')).toMatchObject({ children: [{ value: 'x\ufffd' }, { value: '\ud83d\ude00' }] });
  });

  it('keeps conditions two-valued so NOT includes tasks without the field', () => {
    expect(sql('NOT result:x').text).toBe("(NOT (search_text LIKE $1 AND coalesce(lower(left(result, 1024)), '') LIKE $1))");
    expect(sql('-runtime>1').text).toBe('(NOT (runtime IS NOT NULL AND runtime > $1))');
  });

  it('continues numbering after parameters already bound', () => {
    const params = new SqlParams();
    params.add('first');
    const node = parseQuery('a OR b');
    expect(node && compileQuery(node, { params, now: NOW })).toBe('((search_text LIKE $2) OR (search_text LIKE $3))');
  });
});

describe('rare words of a text term', () => {
  it('splits a term into the words the blocks look up: three characters or more, no repeats', () => {
    expect(termWords("'Order-24640'")).toEqual(['order', '24640']);
    expect(termWords('user4729@example.com')).toEqual(['user4729', 'example', 'com']);
    expect(termWords('a-b-cd 12')).toEqual([]);
    expect(termWords('Ünïcode ÜNÏCODE')).toEqual(['ünïcode']);
  });

  it('lists the terms that go through search_text, under NOT and OR, and not the traceback', () => {
    const node = parseQuery('foo args:"order-1" -(result:x OR traceback:"deep stack") exception:boom name:proj.* kwargs.a:1');
    expect(node === null ? [] : searchTextTerms(node)).toEqual(['foo', 'order-1', 'x', 'boom']);
  });

  it('takes a rare term\'s candidates from the blocks of its chosen words and still matches the whole term', () => {
    const params = new SqlParams();
    const text = searchToSql('"User4729@Example" -result:"\'order-24640\'" plain', {
      params, now: NOW,
      candidates: blockCandidates(new Map([['user4729@example', [{ word: 'user4729', blocks: [7, 9] }]], ["'order-24640'", [{ word: '24640', blocks: [3] }, { word: 'order', blocks: [] }]], ['plain', []]])),
    });
    const lookup = (ids: string, p: string) => `SELECT w.uuid FROM task_words AS b, unnest(b.uuids, b.texts) AS w(uuid, text) WHERE b.id = ANY(${ids}::bigint[]) AND w.text LIKE ${p}`;
    expect(text).toBe(`((search_text LIKE $1 AND uuid IN (${lookup('$2', '$3')})) AND `
      + `(NOT ((search_text LIKE $4 AND uuid IN (${lookup('$5', '$6')} INTERSECT ${lookup('$7', '$8')})) AND coalesce(lower(left(result, 1024)), '') LIKE $4)) AND (search_text LIKE $9))`);
    expect(params.values).toEqual(['%user4729@example%', ['7', '9'], '%user4729%', "%'order-24640'%", ['3'], '%24640%', [], '%order%', '%plain%']);
    // without a choice, one pattern serves the search text and the field, as before
    const plain = new SqlParams();
    expect(searchToSql('result:ok', { params: plain, now: NOW })).toBe("(search_text LIKE $1 AND coalesce(lower(left(result, 1024)), '') LIKE $1)");
  });

  it('chooses the one or two words in fewest blocks, if rare enough', () => {
    const w = (word: string, n: number) => ({ word, blocks: Array.from({ length: n }, (_, i) => i + 1) });
    const words = (found: { word: string }[]) => found.map((f) => f.word);
    expect(words(chooseRareWords([w('order', RARE_BLOCKS + 1), w('24640', 3)]))).toEqual(['24640']);
    expect(words(chooseRareWords([w('user4729', 12), w('example', 600), w('com', 9)]))).toEqual(['com', 'user4729']);
    expect(words(chooseRareWords([w('absent', 0), w('order', RARE_BLOCKS + 1)]))).toEqual(['absent']);
    expect(words(chooseRareWords([w('order', RARE_BLOCKS + 1), w('example', RARE_BLOCKS + 1)]))).toEqual([]);
    expect(words(chooseRareWords([w('edge', RARE_BLOCKS)]))).toEqual(['edge']);
    expect(chooseRareWords([w('user4729', 2)])[0]?.blocks).toEqual([1, 2]);
    expect(chooseRareWords([])).toEqual([]);
  });
});

describe('word blocks', () => {
  const task = (uuid: string, fields: Partial<TaskWrite>) => ({ uuid, name: null, args: null, kwargs: null, result: null, exception: null, ...fields }) as TaskWrite;

  it('holds the distinct lower-cased words of each 64 tasks that brought a searchable field', () => {
    const tasks = [
      task('a', { name: 'proj.Add', args: '(1, 22)' }),
      task('b', {}),
      task('c', { result: "'Ünïcode' proj" }),
      ...Array.from({ length: 64 }, (_, i) => task(`t${i}`, { exception: `Boom${i % 2}` })),
    ];
    const blocks = JSON.parse(wordBlocks(tasks) ?? 'null') as { uuids: string[]; words: string; texts: string[] }[];
    expect(blocks.map((b) => b.uuids.length)).toEqual([64, 2]);
    expect(blocks[0]?.uuids.slice(0, 3)).toEqual(['a', 'c', 't0']);
    expect(blocks[0]?.words).toBe(' proj add 1 22 ünïcode boom0 boom1 ');
    // each task's own words, in the order of the uuids
    expect(blocks[0]?.texts.slice(0, 4)).toEqual(['proj.add\n(1, 22)\n', "'ünïcode' proj\n", 'boom0\n', 'boom1\n']);
    expect(blocks[1]).toEqual({ uuids: ['t62', 't63'], words: ' boom0 boom1 ', texts: ['boom0\n', 'boom1\n'] });
    expect(wordBlocks([task('x', {}), task('y', { args: '(), {}' })])).toBeNull();
  });

  it('splits beyond the characters search text keeps, and keeps hostile uuids writable', () => {
    const long = `${'x'.repeat(1020)} needle ${'😀'.repeat(1024)} beyond`;
    const blocks = JSON.parse(wordBlocks([task('bad\u0000\ud800id', { args: long })]) ?? 'null') as { uuids: string[]; words: string }[];
    expect(blocks[0]?.words).toContain(' needle ');
    expect(blocks[0]?.words).not.toContain('beyond');
    expect(blocks[0]?.uuids).toEqual(['bad\ufffd\ufffdid']);
  });
});
