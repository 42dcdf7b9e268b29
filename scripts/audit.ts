/**
 * `npm run audit`: fails when `npm audit --omit=dev` reports a vulnerability at high or above.
 * When the registry cannot be asked (offline, or a mirror without the audit endpoint) it says so
 * and exits 0 with "skipped": never a pass it did not earn.
 */
import { spawnSync } from 'node:child_process';

/** What one `npm audit --json` run tells. */
export type AuditVerdict =
  | { readonly kind: 'unavailable'; readonly reason: string }
  | { readonly kind: 'report'; readonly highOrAbove: readonly string[]; readonly total: number };

/** Reads the JSON `npm audit --json` printed (npm 7 and later). */
export function readAudit(json: string): AuditVerdict {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return { kind: 'unavailable', reason: 'npm audit printed no JSON report' };
  }
  const metadata = parsed.metadata as { vulnerabilities?: Record<string, number> } | undefined;
  const vulnerabilities = parsed.vulnerabilities as Record<string, { severity?: string }> | undefined;
  if (metadata?.vulnerabilities === undefined || vulnerabilities === undefined) {
    const error = parsed.error as { code?: string; summary?: string } | undefined;
    const reason = [parsed.statusCode && `HTTP ${parsed.statusCode}`, error?.code, parsed.message ?? error?.summary].filter(Boolean).join(': ');
    return { kind: 'unavailable', reason: reason || 'no vulnerability report in the answer' };
  }
  const highOrAbove = Object.entries(vulnerabilities)
    .filter(([, v]) => v.severity === 'high' || v.severity === 'critical')
    .map(([name, v]) => `${name} (${v.severity})`)
    .sort();
  return { kind: 'report', highOrAbove, total: metadata.vulnerabilities.total ?? Object.keys(vulnerabilities).length };
}

/** Runs npm audit on the production dependencies. */
export function runAudit(cwd = process.cwd()): AuditVerdict {
  const result = spawnSync('npm', ['audit', '--omit=dev', '--json'], { cwd, encoding: 'utf8', timeout: 120_000 });
  if (result.error) return { kind: 'unavailable', reason: result.error.message };
  return readAudit(result.stdout);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const verdict = runAudit();
  if (verdict.kind === 'unavailable') {
    process.stdout.write(`audit skipped: the registry's audit endpoint could not be asked (${verdict.reason})\n`);
  } else if (verdict.highOrAbove.length > 0) {
    process.stdout.write(
      `audit failed: ${verdict.highOrAbove.length} production dependencies with high or critical vulnerabilities: ${verdict.highOrAbove.join(', ')}\n`,
    );
    process.exitCode = 1;
  } else process.stdout.write(`audit passed: no high or critical vulnerability in production dependencies (${verdict.total} lower)\n`);
}
