/**
 * Hostile text of `npm run bench`, run as its own process: how long the patterns the exporter used
 * to run on outside text took on what made them slow, next to what runs now (the redactor, the
 * number reader, the JSON shape check). The old patterns are quadratic, so they only get inputs
 * small enough to finish; the new code gets those and a full 10 MiB.
 * Prints one JSON object (PatternResult) on standard output.
 */
import { parseArgs } from 'node:util';
import { jsonShapeProblem } from '../../src/graph/json-shape.js';
import { numberField } from '../../src/graph/parse.js';
import { createRedactor } from '../../src/lib/log.js';
import { median } from './lib.js';

/** One input: the old code's time on it (undefined: not run, it would take minutes) and the new code's. */
export interface PatternRow {
  readonly input: string;
  readonly characters: number;
  readonly oldMs?: number;
  readonly newMs: number;
}

export interface PatternResult {
  readonly repeats: number;
  readonly rows: readonly PatternRow[];
}

// What src/lib/log.ts and src/graph/parse.ts ran before their inputs were bounded and their patterns made linear.
const OLD_JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(\.[A-Za-z0-9_-]*)?/g;
const OLD_NUMBER = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;
const TEN_MIB = 10 * 1024 * 1024;

const { values } = parseArgs({ options: { small: { type: 'string' }, repeats: { type: 'string' } } });
const small = Number(values.small ?? 10_000);
const repeats = Number(values.repeats ?? 3);

function timed(work: () => unknown): number {
  const runs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    work();
    runs.push(performance.now() - start);
  }
  return Math.round(median(runs) * 100) / 100;
}

const redact = createRedactor(['a-configured-secret']);
// Inputs are built (and flattened) before the clock starts: only the code under test is timed.
const flat = (text: string) => Buffer.from(text).toString();
const eyjSmall = flat('eyJ'.repeat(small));
const eyjBig = flat('eyJ'.repeat(TEN_MIB / 3));
const digitsSmall = flat(`${'1'.repeat(small)}x`);
const digitsBig = flat(`${'1'.repeat(TEN_MIB)}x`);
const nestedSmall = Buffer.from(`${'['.repeat(small * 50)}${']'.repeat(small * 50)}`);
const nestedText = nestedSmall.toString();

const rows: PatternRow[] = [
  {
    input: `Graph error message: "eyJ" × ${small}`,
    characters: eyjSmall.length,
    oldMs: timed(() => eyjSmall.replace(OLD_JWT, '[REDACTED]')),
    newMs: timed(() => redact(eyjSmall)),
  },
  { input: 'Graph error message: "eyJ" for 10 MiB', characters: eyjBig.length, newMs: timed(() => redact(eyjBig)) },
  {
    input: `number field: ${small} digits and a letter`,
    characters: digitsSmall.length,
    oldMs: timed(() => OLD_NUMBER.test(digitsSmall)),
    newMs: timed(() => numberField({ n: digitsSmall }, 'n')),
  },
  { input: 'number field: 10 MiB of digits and a letter', characters: digitsBig.length, newMs: timed(() => numberField({ n: digitsBig }, 'n')) },
  {
    input: `JSON answer: ${small * 50} nested arrays (JSON.parse before; the shape check now)`,
    characters: nestedSmall.length,
    oldMs: timed(() => JSON.parse(nestedText)),
    newMs: timed(() => jsonShapeProblem(nestedSmall)),
  },
];

process.stdout.write(`${JSON.stringify({ repeats, rows } satisfies PatternResult)}\n`);
