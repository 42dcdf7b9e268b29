import { execFileSync } from 'node:child_process';

/** Set once dist/ is built in this run: two tiers name this setup, and one build serves both. */
const BUILT = Symbol.for('partner-security-score-exporter.test.dist-built');

/**
 * Builds dist/ once as `npm run build` does, so the tests that spawn the exporter run exactly what users run. Only the
 * integration and stack tiers name it: the unit tier needs no dist/.
 */
export default function setup(): void {
  const state = globalThis as { [BUILT]?: true };
  if (state[BUILT]) return;
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['dist/cli/write-build-info.js'], { stdio: 'inherit' });
  state[BUILT] = true;
}
