/** Strict YAML for configuration files: duplicate keys are errors, aliases are bounded, nothing throws. */
import { parseDocument } from 'yaml';
import { MAX_YAML_ALIAS_COUNT } from './files.js';

const TOO_DEEP = 'nested too deeply to read';

/** The plain value of a YAML document, or its problems (one line each). */
export function parseStrictYaml(text: string): { readonly value: unknown } | { readonly problems: readonly string[] } {
  try {
    const doc = parseDocument(text, { uniqueKeys: true });
    // Deep nesting overflows the parser's stack, which yaml reports as several follow-on errors: say it once.
    if (doc.errors.some((e) => /call stack|stack overflow/i.test(e.message))) return { problems: [TOO_DEEP] };
    if (doc.errors.length > 0) return { problems: doc.errors.map((e) => firstLine(e.message).replace(/:$/, '')) };
    return { value: doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT }) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // yaml throws a ReferenceError when aliases would expand beyond maxAliasCount ("billion laughs").
    if (/alias count/i.test(message)) return { problems: [`more than ${MAX_YAML_ALIAS_COUNT} YAML alias expansions (a resource exhaustion attack?)`] };
    if (error instanceof RangeError) return { problems: [TOO_DEEP] };
    return { problems: [`not readable as YAML: ${firstLine(message)}`] };
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}
