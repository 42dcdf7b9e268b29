/** Raw Graph JSON -> typed snapshot parts, surviving the quirks the beta API is known for. */

import { boundText, labelValue, MAX_LABEL_CHARS } from '../lib/text.js';
import {
  ALERT_RESOLVED_REASONS,
  ALERT_SEVERITIES,
  ALERT_STATUSES,
  type CustomerInsight,
  type HistoryEntry,
  type Policy,
  type PolicyStatuses,
  RESOLVED_ALERT_STATUS,
  type Requirement,
  type RequirementDetails,
  type SecurityAlert,
  type SecurityScore,
  UNKNOWN_ALERT_VALUE,
} from '../snapshot.js';

/** A Graph body this exporter cannot read; the message says which field and why. */
export class GraphParseError extends Error {
  override name = 'GraphParseError';
}

type JsonObject = Record<string, unknown>;

/** Parses GET /beta/security/partner/securityScore. */
export function parseSecurityScore(body: unknown): SecurityScore {
  const entity = entityOf(body, 'partnerSecurityScore');
  const currentScore = numberField(entity, 'currentScore');
  if (currentScore === undefined) {
    throw new GraphParseError(`partnerSecurityScore.currentScore is ${describe(entity.currentScore)}, expected a finite number`);
  }
  const score: { -readonly [K in keyof SecurityScore]: SecurityScore[K] } = { currentScore };
  const id = stringField(entity, 'id');
  if (id !== undefined) score.id = id;
  const maxScore = numberField(entity, 'maxScore');
  if (maxScore !== undefined) score.maxScore = maxScore;
  const lastRefresh = timestampField(entity, 'lastRefreshDateTime');
  if (lastRefresh !== undefined) score.lastRefreshTimestamp = lastRefresh;
  const updated = timestampField(entity, 'updatedDateTime');
  if (updated !== undefined) score.updatedTimestamp = updated;
  return Object.freeze(score);
}

/** One page of a collection: its items and the opaque link to the next page, if any. */
export interface CollectionPage {
  readonly items: readonly JsonObject[];
  readonly nextLink?: string;
}

/** Longest @odata.nextLink followed (Graph's skip tokens make them a few hundred characters to a few KiB). */
export const MAX_NEXT_LINK_CHARS = 16 * 1024;

/** Parses a collection response ({"value": [...], "@odata.nextLink": "..."}). */
export function parseCollection(body: unknown, typeName: string): CollectionPage {
  if (!isObject(body) || !Array.isArray(body.value))
    throw new GraphParseError(`expected a collection of ${typeName}, got ${isObject(body) ? 'an object without a "value" array' : describe(body)}`);
  const items = body.value.filter(isObject);
  const nextLink = body['@odata.nextLink'];
  if (typeof nextLink === 'string' && nextLink.length > MAX_NEXT_LINK_CHARS)
    throw new GraphParseError(`the @odata.nextLink of ${typeName} is longer than ${MAX_NEXT_LINK_CHARS} characters`);
  return typeof nextLink === 'string' && nextLink !== '' ? { items, nextLink } : { items };
}

/** Reads an inlined relation of an expanded entity: undefined when the entity does not carry it. */
export function expandedItems(entity: JsonObject, relation: string): readonly JsonObject[] | undefined {
  const value = entity[relation];
  return Array.isArray(value) ? value.filter(isObject) : undefined;
}

/** The Graph entity of a response body, for expanded relations (see entityOf). */
export function scoreEntity(body: unknown): JsonObject {
  return entityOf(body, 'partnerSecurityScore');
}

// complianceStatus: the metadata's wire value is misspelled "noncomplaint"; examples show
// "nonCompliant" too. Unknown values (unknownFutureValue, anything new) mean "not said".
const NON_COMPLIANT = new Set(['noncomplaint', 'noncompliant']);

/** true / false / undefined for a complianceStatus value. */
export function complianceOf(value: unknown): boolean | undefined {
  const v = boundedString(value, MAX_NAME_CHARS)?.toLowerCase();
  if (v === undefined) return undefined;
  if (v === 'compliant') return true;
  return NON_COMPLIANT.has(v) ? false : undefined;
}

function policyOf(value: unknown): boolean | undefined {
  const v = boundedString(value, MAX_NAME_CHARS)?.toLowerCase();
  return v === 'enabled' ? true : v === 'disabled' ? false : undefined;
}

const POLICY_NAMES = ['securityDefaults', 'mfaConditionalAccessPolicy', 'legacyPerUserMfa'] as const;

/**
 * Every combination of the three policies (each on, off or not said): 27 frozen objects that every
 * customer shares, instead of one object per customer (a thousand customers per tenant).
 */
const POLICY_COMBINATIONS: readonly PolicyStatuses[] = Array.from({ length: 27 }, (_, code) => {
  const out: Partial<Record<Policy, boolean>> = {};
  POLICY_NAMES.forEach((policy, i) => {
    const trit = Math.floor(code / 3 ** i) % 3;
    if (trit !== 2) out[policy] = trit === 1;
  });
  return Object.freeze(out);
});

function policies(entity: JsonObject): PolicyStatuses {
  let code = 0;
  POLICY_NAMES.forEach((policy, i) => {
    const value = policyOf(entity[`${policy}Status`]);
    code += (value === undefined ? 2 : value ? 1 : 0) * 3 ** i;
  });
  return POLICY_COMBINATIONS[code] ?? {};
}

type DetailsKind = RequirementDetails['kind'];
// A subtype is known by its @odata.type, or, when Graph sends the base type, by its requirementType.
const KIND_BY_ODATA_TYPE: Record<string, DetailsKind> = {
  adminsMfaEnforcedSecurityRequirement: 'adminsMfa',
  customersMfaEnforcedSecurityRequirement: 'customersMfa',
  customersSpendingBudgetSecurityRequirement: 'spendingBudget',
  responseTimeSecurityRequirement: 'responseTime',
};
const KIND_BY_REQUIREMENT_TYPE: Record<string, DetailsKind> = {
  mfaEnforcedForAdmins: 'adminsMfa',
  mfaEnforcedForAdminsOfCustomers: 'customersMfa',
  spendingBudgetSetForCustomerAzureSubscriptions: 'spendingBudget',
  securityAlertsPromptlyResolved: 'responseTime',
};

function odataTypeName(entity: JsonObject): string | undefined {
  const raw = boundedString(entity['@odata.type'], MAX_NAME_CHARS);
  return raw
    ?.slice(raw.startsWith('#') ? 1 : 0)
    .split('.')
    .pop();
}

/** Drops undefined properties (so optional fields are absent, not undefined) and freezes. */
function defined<T>(value: { [K in keyof T]: T[K] | undefined }): T {
  return Object.freeze(Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined))) as T;
}

function detailsOf(entity: JsonObject, type: string): RequirementDetails | undefined {
  const kind = KIND_BY_ODATA_TYPE[odataTypeName(entity) ?? ''] ?? KIND_BY_REQUIREMENT_TYPE[type];
  const n = (key: string) => numberField(entity, key);
  switch (kind) {
    case 'adminsMfa':
      return defined<RequirementDetails>({
        kind,
        totalAdmins: n('totalAdminsCount'),
        mfaEnabledAdmins: n('mfaEnabledAdminsCount'),
        adminsRequiredNotUsingMfa: n('adminsRequiredNotUsingMfaCount'),
        totalUsers: n('totalUsersCount'),
        mfaEnabledUsers: n('mfaEnabledUsersCount'),
        usersRequiredNotUsingMfa: n('usersRequiredNotUsingMfaCount'),
        policies: policies(entity),
      });
    case 'customersMfa':
      return defined<RequirementDetails>({ kind, compliantTenants: n('compliantTenantCount'), totalTenants: n('totalTenantCount') });
    case 'spendingBudget':
      return defined<RequirementDetails>({ kind, customersWithBudget: n('customersWithSpendBudgetCount'), totalCustomers: n('totalCustomersCount') });
    case 'responseTime': {
      const hours = n('averageResponseTimeInHours');
      return defined<RequirementDetails>({ kind, averageResponseTimeSeconds: hours === undefined ? undefined : hours * 3600 });
    }
    default:
      return undefined;
  }
}

/** A label value from Graph: visible characters only (no controls, bidi or zero-width), bounded. */
function labelText(value: string | undefined): string | undefined {
  return value === undefined ? undefined : labelValue(value, MAX_LABEL_CHARS);
}

/** Parses one securityRequirement of any subtype. */
export function parseRequirement(entity: JsonObject): Requirement {
  // The requirement-by-id example keys requirements by their type; use the id when the type is missing.
  const type = labelText(stringField(entity, 'requirementType') ?? stringField(entity, 'id')) || 'unknown';
  return defined<Requirement>({
    type,
    compliant: complianceOf(entity.complianceStatus),
    state: labelText(stringField(entity, 'state')),
    actionUrl: labelText(stringField(entity, 'actionUrl')),
    helpUrl: labelText(stringField(entity, 'helpUrl')),
    score: numberField(entity, 'score'),
    maxScore: numberField(entity, 'maxScore'),
    updatedTimestamp: timestampField(entity, 'updatedDateTime'),
    details: detailsOf(entity, type),
  });
}

/** Parses securityScoreHistory entries, oldest first; entries without a date are skipped. */
export function parseHistory(items: readonly JsonObject[]): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  for (const item of items) {
    const createdTimestamp = timestampField(item, 'createdDateTime');
    if (createdTimestamp === undefined) continue;
    entries.push(
      defined<HistoryEntry>({
        createdTimestamp,
        score: numberField(item, 'score'),
        compliantRequirements: numberField(item, 'compliantRequirementsCount'),
        totalRequirements: numberField(item, 'totalRequirementsCount'),
      }),
    );
  }
  return entries.sort((a, b) => a.createdTimestamp - b.createdTimestamp);
}

/** Parses one customerInsight; undefined without a tenantId (nothing to label it with). */
export function parseCustomerInsight(item: JsonObject): CustomerInsight | undefined {
  const tenantId = labelText(stringField(item, 'tenantId'));
  if (!tenantId) return undefined;
  const mfa = isObject(item.mfa) ? item.mfa : {};
  const compliantAdmins = numberField(mfa, 'compliantAdminsCount');
  const compliantNonAdmins = numberField(mfa, 'compliantNonAdminsCount');
  const totalUsers = numberField(mfa, 'totalUsersCount');
  // A literal of one shape, not defined(): a tenant keeps a thousand of these.
  return Object.freeze({
    tenantId,
    ...(compliantAdmins === undefined ? {} : { compliantAdmins }),
    ...(compliantNonAdmins === undefined ? {} : { compliantNonAdmins }),
    ...(totalUsers === undefined ? {} : { totalUsers }),
    policies: policies(mfa),
  });
}

/**
 * The partnerSecurityAlert properties the exporter reads, and asks Graph for with $select: nothing
 * else of an alert is read. resolvedBy, activityLogs (who changed what), descriptions and
 * additionalDetails are personal data or free text; asking only for these keeps them off the wire.
 */
export const SECURITY_ALERT_PROPERTIES = [
  'id',
  'alertType',
  'status',
  'severity',
  'customerTenantId',
  'detectedDateTime',
  'resolvedOnDateTime',
  'resolvedReason',
  'isTest',
] as const;
export type SecurityAlertProperty = (typeof SECURITY_ALERT_PROPERTIES)[number];
/** An alert as parseSecurityAlert sees it: only the properties asked for (reading another one is a type error). */
export type SecurityAlertItem = Readonly<Partial<Record<SecurityAlertProperty, unknown>>>;

/** How far ahead of the poll an alert's date may be and still count: clocks differ by seconds, not days. */
export const MAX_ALERT_FUTURE_SECONDS = 24 * 3600;

/** Longest isTest string read: "false" (anything longer is unreadable, and never lower-cased whole). */
const MAX_BOOLEAN_CHARS = 5;

/** What parseSecurityAlert could not read but worked around: the property and what it held. */
export type AlertQuirk = (property: SecurityAlertProperty, held: string) => void;

/**
 * Parses one partnerSecurityAlert as of nowSeconds. Enum values are compared without case and
 * labelled in their documented spelling; an alert with a resolution date is never open, whatever
 * its status; a date more than a day ahead is absent (no negative age, no resolution "tomorrow").
 * isTest is Boolean in the metadata but a string in Microsoft's own example: true and "true" (any
 * case) are test alerts; anything else but false, "false" and null is reported to quirk and
 * counted as a real alert (a test alert that pages is better than a real one that does not).
 */
export function parseSecurityAlert(item: SecurityAlertItem, nowSeconds: number, quirk: AlertQuirk = () => {}): SecurityAlert {
  const status = enumValue(item.status, ALERT_STATUSES);
  const notAhead = (ts: number | undefined) => (ts !== undefined && ts > nowSeconds + MAX_ALERT_FUTURE_SECONDS ? undefined : ts);
  const resolvedTimestamp = notAhead(timestampOf(item.resolvedOnDateTime));
  const isTest = booleanOf(item.isTest);
  if (isTest === undefined) quirk('isTest', describe(item.isTest));
  return defined<SecurityAlert>({
    id: labelText(stringOf(item.id)) || undefined,
    alertType: labelText(stringOf(item.alertType)) || 'unknown',
    status,
    severity: enumValue(item.severity, ALERT_SEVERITIES),
    customerTenantId: labelText(stringOf(item.customerTenantId)) || undefined,
    detectedTimestamp: notAhead(timestampOf(item.detectedDateTime)),
    resolvedTimestamp,
    // Absent (or null) until the alert is resolved; a reason Microsoft adds is kept as sent, bounded.
    resolvedReason: stringOf(item.resolvedReason) === undefined ? undefined : enumValue(item.resolvedReason, ALERT_RESOLVED_REASONS),
    isTest: isTest === true,
    open: resolvedTimestamp === undefined && status !== RESOLVED_ALERT_STATUS,
  });
}

/** An evolvable enum value: a documented member in its documented spelling whatever the case, else as sent; "unknown" when absent. */
function enumValue(raw: unknown, members: readonly string[]): string {
  const text = labelText(stringOf(raw));
  if (!text) return UNKNOWN_ALERT_VALUE;
  const lower = text.toLowerCase();
  return members.find((member) => member.toLowerCase() === lower) ?? text;
}

/** true, false, or undefined when unreadable; null and absent are false (isTest is nullable). */
function booleanOf(raw: unknown): boolean | undefined {
  if (typeof raw === 'boolean') return raw;
  if (raw === null || raw === undefined) return false;
  if (typeof raw !== 'string' || raw.length > MAX_BOOLEAN_CHARS) return undefined;
  const lower = raw.toLowerCase();
  return lower === 'true' ? true : lower === 'false' ? false : undefined;
}

/**
 * The entity of a single-entity response. The reference shows it wrapped as {"value": {...}}
 * while OData puts it at the root; a root "value" array is a collection, not an entity.
 */
export function entityOf(body: unknown, typeName: string): JsonObject {
  if (!isObject(body)) throw new GraphParseError(`expected a JSON object for ${typeName}, got ${describe(body)}`);
  const inner = body.value;
  if (Array.isArray(inner)) throw new GraphParseError(`expected one ${typeName}, got a collection`);
  return isObject(inner) ? inner : body;
}

/**
 * Longest number sent as a string that is read ("14.29", "1e3"; a double needs at most 24
 * characters): a longer one counts as absent before any pattern sees it.
 */
export const MAX_NUMBER_CHARS = 64;
/** Longest date-time that is read ("2024-01-17T09:12:33.1234567+00:00" is 33 characters); a longer one counts as absent. */
export const MAX_TIMESTAMP_CHARS = 64;
/** Longest type name or enum member compared (@odata.type, complianceStatus, policy states); a longer one counts as unknown. */
export const MAX_NAME_CHARS = 256;
/**
 * How far ahead of the exporter's clock a date may lie and still be exported: Graph's dates are of
 * the past (a refresh, an update, a detection); one more than a day ahead is a broken clock or a
 * broken answer, and counts as absent.
 */
export const MAX_TIMESTAMP_AHEAD_SECONDS = 24 * 3600;

// Linear: the integer part and the fraction cannot trade digits (the old \d+\.?\d* could).
const DECIMAL = /^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$/;

/**
 * A number that may arrive as a JSON number or a string ("20", "14.29"). Edm.Single's "NaN",
 * "INF" and "-INF", strings over MAX_NUMBER_CHARS and anything unreadable count as absent: no NaN
 * ever reaches a metric.
 */
export function numberField(entity: JsonObject, key: string): number | undefined {
  const raw = entity[key];
  let value: number | undefined;
  if (typeof raw === 'number') value = raw;
  else {
    const text = boundedString(raw, MAX_NUMBER_CHARS);
    if (text !== undefined && DECIMAL.test(text)) value = Number(text);
  }
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

// RFC 3339 / ISO 8601 extended form, as OData writes Edm.DateTimeOffset; the offset may be missing.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,12}))?)?([Zz]|[+-]\d{2}:?\d{2})?$/;
const DAY_MS = 86_400_000;

/**
 * An ISO 8601 date-time as Unix seconds (see timestampOf); more than MAX_TIMESTAMP_AHEAD_SECONDS
 * ahead of nowMs counts as absent too.
 */
export function timestampField(entity: JsonObject, key: string, nowMs: number = Date.now()): number | undefined {
  const seconds = timestampOf(entity[key]);
  return seconds === undefined || seconds * 1000 > nowMs + MAX_TIMESTAMP_AHEAD_SECONDS * 1000 ? undefined : seconds;
}

/**
 * An ISO 8601 date-time as Unix seconds. Without an offset it is UTC (as Graph means it), whatever
 * TZ the process has; 23:59:60 UTC (a leap second) is read as the midnight after it. OData's
 * 0001-01-01 "no date", anything before 1970, longer than MAX_TIMESTAMP_CHARS or not a valid date
 * counts as absent.
 */
function timestampOf(raw: unknown): number | undefined {
  const text = boundedString(raw, MAX_TIMESTAMP_CHARS);
  const match = text === undefined ? null : DATE_TIME.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number];
  // Milliseconds, the rest of the fraction dropped (as Date.parse does).
  const fractionMs = Number(`${match[7] ?? ''}000`.slice(0, 3));
  const offset = match[8] ?? 'Z';
  const offsetMs = offset.toUpperCase() === 'Z' ? 0 : (offset.startsWith('-') ? -1 : 1) * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(-2))) * 60_000;
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 60 || Math.abs(offsetMs) >= DAY_MS || Number(offset.slice(-2)) > 59) return undefined;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second) + fractionMs - offsetMs;
  // A leap second is the 61st second of 23:59 UTC only.
  if (second === 60 && (ms - fractionMs - 1000) % DAY_MS !== DAY_MS - 1000) return undefined;
  if (ms < 0) return undefined;
  return ms / 1000;
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** A string of at most maxChars, or undefined (missing, not a string, or longer: never looked at). */
function boundedString(raw: unknown, maxChars: number): string | undefined {
  return typeof raw === 'string' && raw.length <= maxChars ? raw : undefined;
}

/** A string property, absent when missing or not a string. */
export function stringField(entity: JsonObject, key: string): string | undefined {
  return stringOf(entity[key]);
}

function stringOf(raw: unknown): string | undefined {
  return typeof raw === 'string' ? raw : undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(boundText(value, 40))}`;
  return `${typeof value} ${typeof value === 'object' ? '' : String(value)}`.trim();
}
