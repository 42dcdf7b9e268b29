/**
 * Every regular expression in src/ runs in linear time: recheck's automaton checker (a real ReDoS
 * checker, run here in its pure JavaScript backend: no child process, no network) proves each
 * regex literal, each RegExp built from a string and each string given to match/matchAll/search
 * free of exponential and polynomial backtracking. A pattern it cannot prove (a fuzzed "safe", a
 * look-around it does not model, a RegExp built from a variable) fails the test like an unsafe one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, type Diagnostics } from 'recheck';
import { parseSync, Visitor } from 'vite';
import { describe, expect, it } from 'vitest';

// The pure backend runs in this process; "auto" would start recheck's native binary or a JVM.
process.env.RECHECK_BACKEND = 'pure';

const SRC = fileURLToPath(new URL('../../../src', import.meta.url));

/** One pattern as written in src/, with where it is. */
interface Pattern {
  readonly where: string;
  readonly source?: string;
  readonly flags: string;
  /** Why it cannot be checked (built from something that is not a constant). */
  readonly unchecked?: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

type Node = { type: string; start: number; value?: unknown; regex?: { pattern: string; flags: string }; quasis?: { value: { cooked?: string } }[] };

/** A string constant: a string literal or a template without substitutions. */
function constant(node: Node | undefined): string | undefined {
  if (node === undefined) return undefined;
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
  if (node.type === 'TemplateLiteral' && node.quasis?.length === 1) return node.quasis[0]?.value.cooked;
  return undefined;
}

/** Every regex literal, RegExp(...) / new RegExp(...) and string pattern of match/matchAll/search in one file. */
function patternsIn(file: string, text: string): Pattern[] {
  const found: Pattern[] = [];
  const line = (offset: number) => text.slice(0, offset).split('\n').length;
  const where = (node: Node) => `${file}:${line(node.start)}`;
  const construct = (node: { start: number; type: string; callee: Node & { name?: string }; arguments: Node[] }) => {
    if (node.callee.type !== 'Identifier' || node.callee.name !== 'RegExp') return;
    const [pattern, flags] = node.arguments;
    if (pattern?.regex) return; // new RegExp(/literal/): the literal is checked itself
    const source = constant(pattern);
    const flagText = flags === undefined ? '' : constant(flags);
    if (source === undefined || flagText === undefined) found.push({ where: where(node), flags: '', unchecked: 'built from a value that is not a constant' });
    else found.push({ where: where(node), source, flags: flagText });
  };
  const program = parseSync(file, text, { lang: 'ts', sourceType: 'module' }).program;
  new Visitor({
    Literal(node) {
      const literal = node as unknown as Node;
      if (literal.regex) found.push({ where: where(literal), source: literal.regex.pattern, flags: literal.regex.flags });
    },
    NewExpression(node) {
      construct(node as never);
    },
    CallExpression(node) {
      const call = node as unknown as { start: number; type: string; callee: Node & { name?: string; property?: { name?: string } }; arguments: Node[] };
      construct(call);
      // "text".match("a+") builds a RegExp from the string.
      const method = call.callee.type === 'MemberExpression' ? call.callee.property?.name : undefined;
      const source = constant(call.arguments[0]);
      if (method !== undefined && ['match', 'matchAll', 'search'].includes(method) && source !== undefined)
        found.push({ where: where(call as Node), source, flags: method === 'matchAll' ? 'g' : '' });
    },
  }).visit(program);
  return found;
}

const PATTERNS = sourceFiles(SRC).flatMap((path) => patternsIn(relative(SRC, path), readFileSync(path, 'utf8')));

/** recheck's verdict, from the automaton checker only: a proof, not a fuzzing run that found nothing. */
function verdict(source: string, flags: string): Promise<Diagnostics> {
  return check(source, flags, { checker: 'automaton', timeout: 60_000 });
}

const summary = (d: Diagnostics) =>
  `${d.status}${d.status === 'vulnerable' ? ` (${d.complexity.summary})` : d.status === 'unknown' ? ` (${d.error.kind})` : ''}`;

describe('regular expressions in src/', { timeout: 240_000 }, () => {
  it('the checker can fail: it proves known-bad patterns vulnerable, among them the old numberField and JWT patterns', async () => {
    expect(summary(await verdict('^(a+)+$', ''))).toBe('vulnerable (exponential)');
    expect(summary(await verdict('^\\s*[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?\\s*$', ''))).toBe('vulnerable (2nd degree polynomial)');
    expect(summary(await verdict('eyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]{4,}(\\.[A-Za-z0-9_-]*)?', 'g'))).toBe('vulnerable (2nd degree polynomial)');
    // A pattern the automaton checker cannot model is not passed as safe.
    expect(summary(await verdict('^(?=.{1,254}$)[a-z]+$', ''))).toBe('unknown (unsupported)');
    // And the extraction finds what it must: literals, RegExp from strings, string patterns, and refuses variables.
    const found = patternsIn('x.ts', "const a = /a+b/g;\nconst b = new RegExp('c*', 'i');\nconst c = RegExp(`d`);\n'x'.match('e+');\nnew RegExp(name);\n");
    expect(found).toEqual([
      { where: 'x.ts:1', source: 'a+b', flags: 'g' },
      { where: 'x.ts:2', source: 'c*', flags: 'i' },
      { where: 'x.ts:3', source: 'd', flags: '' },
      { where: 'x.ts:4', source: 'e+', flags: '' },
      { where: 'x.ts:5', flags: '', unchecked: 'built from a value that is not a constant' },
    ]);
  });

  it('every regex literal, RegExp construction and string pattern in src/ is proven linear', async () => {
    expect(PATTERNS.length).toBeGreaterThan(40);
    const unsafe: string[] = [];
    const seen = new Map<string, string>();
    for (const pattern of PATTERNS) {
      if (pattern.source === undefined) {
        unsafe.push(`${pattern.where}: ${pattern.unchecked}`);
        continue;
      }
      const key = `/${pattern.source}/${pattern.flags}`;
      const result = seen.get(key) ?? summary(await verdict(pattern.source, pattern.flags));
      seen.set(key, result);
      if (result !== 'safe') unsafe.push(`${pattern.where}: ${key} is ${result}`);
    }
    expect(unsafe).toEqual([]);
  });
});
