/**
 * Imported first by main.ts: on a Node.js older than the dependencies need (undici 8 asks for
 * 22.19), the exporter would die with a TypeError deep inside a dependency. Instead: one line
 * saying what is needed, what was found and how to get it, and exit code 1. Keep this module free
 * of imports, so it runs before anything that could fail on an old Node.
 */

/** The oldest Node.js the exporter runs on; package.json's engines says the same (a test checks). */
export const MIN_NODE_VERSION = '22.19.0';

/** Why this Node.js cannot run the exporter, or undefined when it can. */
export function nodeVersionProblem(found: string): string | undefined {
  const parse = (v: string) =>
    v
      .replace(/^v/, '')
      .split('.')
      .map((n) => Number.parseInt(n, 10) || 0);
  const [a = 0, b = 0, c = 0] = parse(found);
  const [x = 0, y = 0, z = 0] = parse(MIN_NODE_VERSION);
  if (a > x || (a === x && (b > y || (b === y && c >= z)))) return undefined;
  return (
    `partner-security-score-exporter needs Node.js ${MIN_NODE_VERSION} or newer (24 LTS recommended); this is Node.js ${found.replace(/^v?/, 'v')}. ` +
    'Get Node.js 24 from https://nodejs.org, your package manager, or npm: npm install --prefix "$HOME/.cache/node24" node@24 ' +
    'and put $HOME/.cache/node24/node_modules/.bin first on PATH.'
  );
}

const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
