/**
 * What an error text says after Graph's own words: what the request was about (the score or one
 * of its relations) and what to check. Credential-specific 401 and 403 hints come from the
 * configuration (src/config/credential-hint.ts); these are the ones that need no configuration.
 */
import type { Relation } from '../snapshot.js';

/** What a request reads, in words: "the partner security score" or "the securityAlerts relation". */
export function subjectOf(relation: Relation | undefined): string {
  return relation === undefined ? 'the partner security score' : `the ${relation} relation`;
}

/** The switch that turns a relation off: --no-collector.security-alerts for securityAlerts. */
function collectorSwitch(relation: Relation): string {
  return `--no-collector.${relation.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** After a 403 without a credential hint: the permission, named for what was refused. */
export function forbiddenHint(relation: Relation | undefined): string {
  return `The app registration needs the PartnerSecurity.Read.All application permission with admin consent, in a Partner Center partner tenant, to read ${subjectOf(relation)}`;
}

/**
 * After a 404. The score is missing on a wrong cloud or outside a partner tenant; a relation is
 * asked for only after the score was read, so the endpoint is right and the tenant lacks it.
 */
export function notFoundHint(relation: Relation | undefined): string {
  if (relation === undefined)
    return 'The partner security score is served only by the global cloud (https://graph.microsoft.com) for partner tenants: check --graph.endpoint';
  return `Graph does not serve ${subjectOf(relation)} for this tenant, though it served the score; the score and the other relations are exported without it`;
}

/**
 * After a 403 whose code says MFA is missing (Unauthorized_MissingMFA, seen on securityAlerts with
 * an app-only token that holds PartnerSecurity.Read.All: microsoftgraph/msgraph-beta-sdk-dotnet
 * issue 1083). No permission can fix it, so the permission hint would mislead: say what is known.
 */
export function missingMfaHint(relation: Relation | undefined): string {
  const known = `Graph asks for an MFA claim to read ${subjectOf(relation)}, and app-only tokens (client secret, certificate, workload or managed identity: all this exporter uses) never carry one, so no permission or admin consent changes this`;
  const scope = relation === undefined ? 'nothing can be read until Graph stops asking' : 'the score and the other relations keep working';
  const meanwhile = relation === undefined ? '' : `; ${collectorSwitch(relation)} stops asking for it`;
  return `${known}; ${scope}. Try: a Microsoft support case quoting this request-id (the same answer is reported in msgraph-beta-sdk-dotnet issue 1083)${meanwhile}. See docs/troubleshooting.md`;
}

/** Whether a Graph error code says the token lacks MFA (Unauthorized_MissingMFA and the like). */
export function saysMfaMissing(code: string): boolean {
  return code.toLowerCase().includes('mfa');
}
