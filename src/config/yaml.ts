/**
 * Strict YAML for configuration files (the tenants file, the web config): duplicate keys are
 * errors, aliases are bounded, nothing throws, unknown keys are reported, and every problem is
 * one line that starts with the file.
 */
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { closest } from '../lib/suggest.js';
import { MAX_YAML_ALIAS_COUNT, type ProblemSink } from './files.js';

const TOO_DEEP = 'nested too deeply to read';

// Loaded with the first file read (about 0.7 MiB of heap): an exporter configured by its environment alone never needs it.
let yaml: typeof Yaml | undefined;
const parseDocument: typeof Yaml.parseDocument = (...args) => {
  yaml ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return yaml.parseDocument(...args);
};

/** The plain value of the YAML document in file, or its problems (one line each, "file: problem"). */
export function parseStrictYaml(text: string, file: string): { readonly value: unknown } | { readonly problems: readonly string[] } {
  const problems = (...lines: string[]) => ({ problems: lines.map((line) => `${file}: ${line}`) });
  try {
    const doc = parseDocument(text, { uniqueKeys: true });
    // Deep nesting overflows the parser's stack, which yaml reports as several follow-on errors: say it once.
    if (doc.errors.some((e) => /call stack|stack overflow/i.test(e.message))) return problems(TOO_DEEP);
    if (doc.errors.length > 0) return problems(...doc.errors.map((e) => firstLine(e.message).replace(/:$/, '')));
    return { value: doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT }) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // yaml throws a ReferenceError when aliases would expand beyond maxAliasCount ("billion laughs").
    if (/alias count/i.test(message)) return problems(`more than ${MAX_YAML_ALIAS_COUNT} YAML alias expansions (a resource exhaustion attack?)`);
    if (error instanceof RangeError) return problems(TOO_DEEP);
    return problems(`not readable as YAML: ${firstLine(message)}`);
  }
}

/** Collects the problems of one file into errors as "file: where: what". */
export function problemsIn(file: string, errors: string[]): ProblemSink {
  return (where, what) => errors.push(`${file}: ${where}: ${what}`);
}

/** A YAML mapping (not a list, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reports every key of entry that is not one of known. With suggest, a key within two edits of a
 * known one names it ("did you mean"); the web config keeps exporter-toolkit's plain message.
 */
export function unknownKeys(
  entry: Record<string, unknown>,
  known: readonly string[],
  where: string,
  problem: ProblemSink,
  options: { readonly suggest?: boolean } = {},
): void {
  for (const key of Object.keys(entry)) {
    if (known.includes(key)) continue;
    const near = options.suggest ? closest(key, known, () => 2) : undefined;
    problem(where, `unknown key "${key}"${near ? ` (did you mean "${near}"?)` : ''}`);
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}
