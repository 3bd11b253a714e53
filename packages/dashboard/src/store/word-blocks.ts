/**
 * @module store/word-blocks
 * The free-text index. A trigram index on every task's search text was most of a write's
 * cost (bench/dashboard/README.md has the figures), so the text is
 * indexed by blocks instead: each write adds one `task_words` row per {@link BLOCK_TASKS}
 * of its tasks, holding their uuids, the distinct words (runs of letters and digits,
 * lower-cased) of the searchable fields that write brought, and each task's own text of
 * those fields (`texts`, lower-cased, in the order of `uuids`). Only the blocks' words carry a trigram index: a word
 * common to the 64 tasks is indexed once, not 64 times. A found block's tasks are then told
 * apart by their own texts, so a rare word brings its tasks, not 64 per block.
 *
 * A search uses the blocks for its rare words only. Every word of a task's search text is in
 * some block of that task, and every word of a term lies inside one word of any text that
 * contains the term, so the tasks of the blocks holding a word of the term (intersected over
 * its words) are a superset of the term's tasks; `search_text LIKE` keeps the exact ones. A
 * word found in more than {@link RARE_BLOCKS} blocks would bring more candidates than a scan
 * in time order reads, so a term made only of such words is matched by the scan.
 *
 * Blocks are never updated. Retention deletes a block once none of its tasks is left
 * ({@link SWEEP_SQL}), walking the blocks in the order they were written.
 */
import type { TaskWrite } from './fold-events.js';
import { containsPattern, SEARCH_FIELD_CHARS, textWords, type SqlParams, type TextCandidates } from '../query/index.js';
import { toSqlJson } from './sql-json.js';

/** Tasks per block: fewer index entries per task, more candidates per block found. */
export const BLOCK_TASKS = 64;

/** A word in at most this many blocks is rare: its blocks bring at most 32,768 candidates. */
export const RARE_BLOCKS = 512;

const FIELDS = ['name', 'args', 'kwargs', 'result', 'exception'] as const;

// search_text keeps 1,024 characters of each field; as many UTF-16 code units may be fewer.
const FIELD_UNITS = 2 * SEARCH_FIELD_CHARS;

/**
 * The blocks of a write as the JSON parameter of {@link BLOCKS_INSERT_SQL}, or null when no
 * task of it brought a searchable field.
 */
export function wordBlocks(tasks: readonly TaskWrite[]): string | null {
  const blocks: { uuids: string[]; words: string; texts: string[] }[] = [];
  let uuids: string[] = [];
  let texts: string[] = [];
  let words = new Set<string>();
  const flush = () => {
    if (uuids.length === 0) return;
    // Spaces around every word: a word of a term never matches across two of them.
    blocks.push({ uuids, words: ` ${[...words].join(' ')} `, texts });
    uuids = [];
    texts = [];
    words = new Set();
  };
  for (const task of tasks) {
    let text = '';
    for (const field of FIELDS) {
      const value = task[field];
      if (value !== null && value !== undefined && value !== '') text += `${value.slice(0, FIELD_UNITS)}\n`;
    }
    const lowered = text.toLowerCase();
    const found = textWords(lowered);
    if (found.length === 0) continue;
    for (const word of found) words.add(word);
    uuids.push(task.uuid);
    texts.push(lowered);
    if (uuids.length >= BLOCK_TASKS) flush();
  }
  flush();
  return blocks.length === 0 ? null : toSqlJson(blocks);
}

/** Adds a write's blocks ({@link wordBlocks}). */
export const BLOCKS_INSERT_SQL = `
  INSERT INTO task_words (uuids, words, texts)
  SELECT ARRAY(SELECT json_array_elements_text(x.uuids)), x.words, ARRAY(SELECT json_array_elements_text(x.texts))
  FROM json_to_recordset($1::json) AS x(uuids json, words text, texts json)`;

/** Tasks with a search text, numbered into groups of {@link BLOCK_TASKS} in uuid order. */
const GROUPED = (where: string) => `
  SELECT uuid, search_text, (row_number() OVER (ORDER BY uuid) - 1) / ${BLOCK_TASKS} AS g
  FROM tasks WHERE search_text <> '' ${where === '' ? '' : `AND (${where})`}`;

/**
 * Blocks for stored tasks (all, or those `where` selects) made from their search text, 64 to
 * a row: for the migration that introduced blocks, and for bench loads that write rows in
 * SQL. A block's words are the distinct whitespace-separated pieces of its tasks' texts, and
 * each task's text is its whole search text, which needs no notion of a letter (the
 * database's may differ from JavaScript's): every word of a term still lies inside one piece.
 */
export function blocksFromSearchTextSql(where = ''): string {
  return `
    INSERT INTO task_words (uuids, words, texts)
    SELECT ids.uuids, ' ' || pieces.words || ' ', ids.texts
    FROM (SELECT g, array_agg(uuid ORDER BY uuid) AS uuids, array_agg(search_text ORDER BY uuid) AS texts
          FROM (${GROUPED(where)}) AS s GROUP BY g) AS ids
    JOIN (SELECT g, string_agg(DISTINCT piece, ' ') AS words
          FROM (${GROUPED(where)}) AS s, regexp_split_to_table(s.search_text, '\\s+') AS piece
          WHERE piece <> '' GROUP BY g) AS pieces USING (g)`;
}

/**
 * The ids of the blocks holding a word (`$1`, a LIKE pattern), up to {@link RARE_BLOCKS} + 1.
 * A search looks them up once and hands them to each of its statements, which then read
 * those blocks by key instead of rechecking the trigram index's candidates each time.
 */
export const BLOCKS_OF_WORD_SQL = `SELECT id::float8 AS id FROM task_words WHERE words LIKE $1 LIMIT ${RARE_BLOCKS + 1}`;

/** A word in at most this many blocks narrows a term enough: its other words are not looked up. */
export const NARROW_BLOCKS = 32;

/** Words a term looks up in the blocks at most (the longest first: likelier rare). */
export const LOOKED_UP_WORDS = 4;

/** A word of a term and the ids of the word blocks that hold it. */
export interface RareWord {
  readonly word: string;
  readonly blocks: readonly number[];
}

/**
 * The uuids of the tasks that hold every one of `words` in their word blocks: each word's
 * blocks (looked up beforehand with {@link BLOCKS_OF_WORD_SQL}) read by key, their tasks told
 * apart by each one's own text.
 */
export function blockCandidatesSql(words: readonly RareWord[], params: SqlParams): string {
  return words.map((w) => {
    const ids = params.add(w.blocks.map(String));
    return `SELECT w.uuid FROM task_words AS b, unnest(b.uuids, b.texts) AS w(uuid, text) WHERE b.id = ANY(${ids}::bigint[]) AND w.text LIKE ${params.add(containsPattern(w.word))}`;
  }).join(' INTERSECT ');
}

/** The search's {@link TextCandidates}: the blocks of the rare words chosen for each term. */
export function blockCandidates(rareWords: ReadonlyMap<string, readonly RareWord[]>): TextCandidates {
  return (term, params) => {
    const words = rareWords.get(term);
    return words === undefined || words.length === 0 ? undefined : blockCandidatesSql(words, params);
  };
}

/**
 * The words whose blocks give a term's candidates, from each word's blocks (at most
 * {@link RARE_BLOCKS} + 1 of them looked up): the one or two in fewest blocks, if in at most
 * RARE_BLOCKS. A second word can only narrow: the candidates are the tasks holding both.
 */
export function chooseRareWords(found: readonly RareWord[]): RareWord[] {
  return found.filter((w) => w.blocks.length <= RARE_BLOCKS).sort((a, b) => a.blocks.length - b.blocks.length).slice(0, 2);
}

/**
 * Examines up to `$2` blocks written after block `$1`, deletes those none of whose tasks is
 * left, and returns the last block examined (null when none was), how many and how many deleted.
 */
export const SWEEP_SQL = `
  WITH examined AS (SELECT id, uuids FROM task_words WHERE id > $1 ORDER BY id LIMIT $2),
       dead AS (
         DELETE FROM task_words AS w USING examined AS e
         WHERE w.id = e.id AND NOT EXISTS (SELECT 1 FROM tasks AS t WHERE t.uuid = ANY(e.uuids))
         RETURNING w.id)
  SELECT (SELECT max(id) FROM examined)::float8 AS last, (SELECT count(*) FROM examined)::int AS examined,
         (SELECT count(*) FROM dead)::int AS deleted`;
