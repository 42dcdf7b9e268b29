/**
 * The layout of src/: one folder per pipeline stage, each importing only the stages below it, and
 * no import loop anywhere. Read top-down: cli, web, expose, collect, graph, config, snapshot, lib.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../../src', import.meta.url));

/** The stages from the bottom up: a file may import its own stage and those listed before it. */
const STAGES = ['lib', 'snapshot.ts', 'config', 'graph', 'collect', 'demo.ts', 'expose', 'web', 'cli', 'main.ts'] as const;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

/** The src/ files a file imports (static, side-effect and dynamic imports), as paths under src/. */
function importsOf(file: string, text: string): string[] {
  // Bounded, linear: one quoted relative path after `from`, `import` or `import(`.
  const specifiers = [...text.matchAll(/(?:\bfrom|\bimport\(?)\s*'(\.{1,2}\/[^'\n]{1,200})'/g)].map((m) => m[1] ?? '');
  return specifiers.map((s) => relative(SRC, resolve(dirname(join(SRC, file)), s)).replace(/\.js$/, '.ts'));
}

function stageOf(file: string): number {
  const top = file.split('/')[0] ?? '';
  return STAGES.indexOf(top as (typeof STAGES)[number]);
}

const FILES = sourceFiles(SRC);
const GRAPH = new Map(FILES.map((file) => [file, importsOf(file, readFileSync(join(SRC, file), 'utf8'))]));

/** Every import cycle, as the chain of files that closes it. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      found.push([...path.slice(path.indexOf(file)), file]);
      return;
    }
    state.set(file, 'open');
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  return found;
}

describe('src/ layout', () => {
  it('every file belongs to a stage, and every import resolves to a file in src/', () => {
    expect(FILES.length).toBeGreaterThan(40);
    expect(FILES.filter((file) => stageOf(file) < 0)).toEqual([]);
    const unresolved = [...GRAPH].flatMap(([file, imports]) => imports.filter((i) => !GRAPH.has(i)).map((i) => `${file} -> ${i}`));
    expect(unresolved).toEqual([]);
  });

  it('no file imports from a stage above its own', () => {
    const upward = [...GRAPH].flatMap(([file, imports]) => imports.filter((target) => stageOf(target) > stageOf(file)).map((target) => `${file} -> ${target}`));
    expect(upward).toEqual([]);
  });

  it('no import loop anywhere in src/', () => {
    expect(cycles(GRAPH)).toEqual([]);
  });

  it('the checks see what they look for: an upward import and a loop are found', () => {
    // Without this, a parser that found no import at all would pass the two tests above.
    expect(importsOf('graph/parse.ts', "import { x } from '../expose/metrics.js';")).toEqual(['expose/metrics.ts']);
    expect(importsOf('main.ts', "import './cli/node-guard.js';\nconst m = await import('./config/credentials.js');")).toEqual([
      'cli/node-guard.ts',
      'config/credentials.ts',
    ]);
    expect(stageOf('expose/metrics.ts')).toBeGreaterThan(stageOf('graph/parse.ts'));
    expect(
      cycles(
        new Map([
          ['a.ts', ['b.ts']],
          ['b.ts', ['a.ts']],
        ]),
      ),
    ).toEqual([['a.ts', 'b.ts', 'a.ts']]);
    expect([...GRAPH.values()].flat().length).toBeGreaterThan(100);
  });

  it('at most 8 files directly under src/, and main.ts is composition only (at most 200 lines)', () => {
    expect(FILES.filter((file) => !file.includes('/')).length).toBeLessThanOrEqual(8);
    expect(readFileSync(join(SRC, 'main.ts'), 'utf8').split('\n').length).toBeLessThanOrEqual(200);
  });
});
