/**
 * Lets Node run the dashboard sources as they are (`node --import ./dashboards/ts-imports.ts ...`).
 * They import each other as './x.js', the specifier tsc's nodenext resolution wants; Node's type
 * stripping does not map that to './x.ts', so this resolve hook does, for relative imports only.
 */
import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';

registerHooks({
  resolve(specifier, context, nextResolve) {
    if ((specifier.startsWith('./') || specifier.startsWith('../')) && specifier.endsWith('.js') && context.parentURL?.startsWith('file:')) {
      const source = new URL(`${specifier.slice(0, -'.js'.length)}.ts`, context.parentURL);
      if (existsSync(fileURLToPath(source))) return nextResolve(source.href, context);
    }
    return nextResolve(specifier, context);
  },
});
