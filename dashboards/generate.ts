/**
 * Renders the typed dashboards into the monitoring mixin's templates, mixin/dashboards/*.json:
 * `npm run dashboards` writes them (and then renders the mixin into grafana/dashboards/ with
 * scripts/mixin.ts), `npm run dashboards -- --check` only reports files that differ. The JSON is
 * committed; a test fails when it is not what this renders.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { healthDashboard } from './health.js';
import { overviewDashboard } from './overview.js';

/** Where the templates live: the mixin imports them from there. */
export const TEMPLATES_DIR = fileURLToPath(new URL('../mixin/dashboards/', import.meta.url));
/** Where the mixin's rendering with its defaults lives (the provisioning provider's folder). */
export const DASHBOARDS_DIR = fileURLToPath(new URL('../grafana/dashboards/', import.meta.url));

/** Every dashboard: its file name (under mixin/dashboards/ and grafana/dashboards/) and how to build it. */
export const DASHBOARDS: readonly { readonly file: string; readonly build: () => Dashboard }[] = [
  { file: 'partner-security-overview.json', build: overviewDashboard },
  { file: 'partner-security-exporter-health.json', build: healthDashboard },
];

/** The JSON text of one dashboard template, exactly as committed. */
export function renderDashboard(dashboard: Dashboard): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}

/** File name -> JSON text of every template. */
export function renderDashboards(): Map<string, string> {
  return new Map(DASHBOARDS.map((d) => [d.file, renderDashboard(d.build())]));
}

function main(check: boolean): number {
  let stale = 0;
  mkdirSync(TEMPLATES_DIR, { recursive: true });
  for (const [file, text] of renderDashboards()) {
    const path = `${TEMPLATES_DIR}${file}`;
    if (existsSync(path) && readFileSync(path, 'utf8') === text) continue;
    if (check) {
      console.error(`${path} is not what dashboards/ renders; run npm run dashboards`);
      stale++;
    } else {
      writeFileSync(path, text);
      console.error(`wrote ${path}`);
    }
  }
  return stale === 0 ? 0 : 1;
}

if (import.meta.main) process.exitCode = main(process.argv.includes('--check'));
