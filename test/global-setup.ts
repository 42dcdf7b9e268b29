import { execFileSync } from 'node:child_process';

/** Builds dist/ once as `npm run build` does, so the tests that spawn the exporter run exactly what users run. */
export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['dist/write-build-info.js'], { stdio: 'inherit' });
}
