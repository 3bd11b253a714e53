/**
 * @module canvas/graph
 * A workflow as a Graphviz DOT graph (`celeriac graph`): one box per task, an arrow for each
 * "runs after" (chain steps, chord header to body), a cluster around each group and chord
 * header, dashed arrows to `link` callbacks and red dashed arrows to `linkError` errbacks.
 * Works on Celery's signature dicts, so a workflow dumped by Python can be drawn too.
 */
import { pyRepr } from '../protocol/repr.js';
import type { SignatureDict } from '../protocol/types.js';
import { chordParts, isSignatureDict, memberDicts, normalize } from './dicts.js';

/** Entry and exit nodes of a drawn piece: arrows come into entries and leave from exits. */
interface Piece {
  entries: string[];
  exits: string[];
}

class DotWriter {
  readonly lines: string[] = [];
  #next = 0;
  #cluster = 0;
  #indent = '  ';

  id(): string {
    return `n${++this.#next}`;
  }

  line(text: string): void {
    this.lines.push(`${this.#indent}${text}`);
  }

  cluster(label: string, draw: () => Piece): Piece {
    this.line(`subgraph cluster_${++this.#cluster} {`);
    const outer = this.#indent;
    this.#indent += '  ';
    this.line(`label=${quote(label)}; style=dashed;`);
    const piece = draw();
    this.#indent = outer;
    this.line('}');
    return piece;
  }

  edges(from: readonly string[], to: readonly string[], attrs = ''): void {
    for (const a of from) for (const b of to) this.line(`${a} -> ${b}${attrs};`);
  }
}

function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function label(dict: SignatureDict): string {
  const args = dict.args.map((a) => pyRepr(a));
  const kwargs = Object.entries(dict.kwargs).map(([k, v]) => `${k}=${pyRepr(v)}`);
  const call = `${dict.task}(${[...args, ...kwargs].join(', ')})`;
  const short = call.length > 60 ? `${call.slice(0, 57)}...` : call;
  return dict.immutable ? `${short} [immutable]` : short;
}

function drawLinks(w: DotWriter, dict: SignatureDict, from: readonly string[]): void {
  for (const [key, attrs] of [
    ['link', ' [style=dashed]'],
    ['link_error', ' [style=dashed, color=red]'],
  ] as const) {
    const value = dict.options[key];
    const list = Array.isArray(value) ? value : [];
    for (const cb of list) {
      if (!isSignatureDict(cb)) continue;
      const piece = draw(w, normalize(cb));
      w.edges(from, piece.entries, attrs);
    }
  }
}

function draw(w: DotWriter, dict: SignatureDict): Piece {
  let piece: Piece;
  switch (dict.subtask_type) {
    case 'chain': {
      const steps = memberDicts(dict).map((s) => draw(w, s));
      steps.forEach((s, i) => {
        const next = steps[i + 1];
        if (next !== undefined) w.edges(s.exits, next.entries);
      });
      piece = { entries: steps[0]?.entries ?? [], exits: steps[steps.length - 1]?.exits ?? [] };
      break;
    }
    case 'group': {
      const members = w.cluster('group', () => {
        const drawn = memberDicts(dict).map((m) => draw(w, m));
        return { entries: drawn.flatMap((d) => d.entries), exits: drawn.flatMap((d) => d.exits) };
      });
      piece = members;
      break;
    }
    case 'chord': {
      const { header, body } = chordParts(dict);
      const head = w.cluster('chord header', () => {
        const drawn = memberDicts(header).map((m) => draw(w, m));
        return { entries: drawn.flatMap((d) => d.entries), exits: drawn.flatMap((d) => d.exits) };
      });
      const tail = draw(w, body);
      w.edges(head.exits, tail.entries);
      piece = { entries: head.entries, exits: tail.exits };
      break;
    }
    default: {
      const id = w.id();
      w.line(`${id} [label=${quote(label(dict))}];`);
      piece = { entries: [id], exits: [id] };
    }
  }
  drawLinks(w, dict, piece.exits);
  return piece;
}

/** The DOT text of a workflow given as a signature dict. */
export function workflowToDot(workflow: SignatureDict, name = 'workflow'): string {
  const w = new DotWriter();
  w.line('rankdir=LR;');
  w.line('node [shape=box, fontname="Helvetica"];');
  draw(w, normalize(workflow));
  return `digraph ${quote(name)} {\n${w.lines.join('\n')}\n}\n`;
}
