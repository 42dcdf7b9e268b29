// Runs before `npm ci` and `npm install` finish (preinstall) and before `npm start` and `npm run demo`
// (prestart, predemo), on whatever Node.js the user has: plain JavaScript without dependencies that
// any Node.js parses, so an old one gets one clear line instead of a crash or npm's generic error.
import { readFileSync } from 'node:fs';

const engines = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node;
const minimum = engines.replace(/^>=\s*/, '');
const parse = (v) =>
  v
    .replace(/^v/, '')
    .split('.')
    .map((n) => Number.parseInt(n, 10) || 0);
const [a = 0, b = 0, c = 0] = parse(process.versions.node);
const [x = 0, y = 0, z = 0] = parse(minimum);
if (!(a > x || (a === x && (b > y || (b === y && c >= z))))) {
  process.stderr.write(
    `partner-security-score-exporter needs Node.js ${minimum} or newer (24 LTS recommended); this is Node.js v${process.versions.node}. ` +
      'Get Node.js 24 from https://nodejs.org, your package manager, or npm: npm install --prefix "$HOME/.cache/node24" node@24 ' +
      'and put $HOME/.cache/node24/node_modules/.bin first on PATH.\n',
  );
  process.exit(1);
}
