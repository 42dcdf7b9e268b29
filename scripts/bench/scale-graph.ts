/**
 * The fake cloud of `npm run bench`'s scale section and of the 50-tenant stack test, as a process
 * of its own: the tests' HTTPS Entra ID and Graph (test/helpers/fake-cloud.ts) answering every
 * configured tenant with a tenant of its own, as big as asked: N customers in customer insights
 * (100 a page) and M security alerts (250 a page), every tenth one open, spread over the
 * customers, types and severities, with the fields Graph sends (free text included, which the
 * exporter must drop). Tokens carry the tenant asked for as their tid, and Graph answers by it.
 * Prints {"url": "https://127.0.0.1:N"} once it listens; SIGTERM ends it.
 */
import { parseArgs } from 'node:util';
import { SECURITY_ALERTS_PATH, SECURITY_SCORE_PATH, startFakeCloud, unsignedJwt } from '../../test/helpers/fake-cloud.js';

const CUSTOMERS_PER_PAGE = 100;
const ALERTS_PER_PAGE = 250;
const DAY_MS = 24 * 3600_000;
const TYPES = [
  'unusualAzureConsumption',
  'cryptoMiningActivityDetected',
  'unusualSignInActivity',
  'suspiciousVmCreation',
  'unusualResourceGroupActivity',
  'unusualServicePrincipalActivity',
  'unusualSubscriptionActivity',
  'azureDdosAttack',
];
const SEVERITIES = ['high', 'medium', 'low'];

export interface ScaleShape {
  readonly customers: number;
  readonly alerts: number;
}

/** A small deterministic hash: the same tenant looks the same on every poll. */
function hash(n: number): number {
  return Math.imul(n ^ 0x9e3779b9, 2654435761) >>> 0;
}

/** The number a tenant id ends in (the bench names them …-0000000000NN). */
function tenantNumber(tid: string): number {
  return Number.parseInt(tid.slice(-8), 16) || 0;
}

function customerId(tenant: number, i: number): string {
  return `c${tenant.toString(16).padStart(7, '0')}-0000-4000-9000-${i.toString(16).padStart(12, '0')}`;
}

function customer(tenant: number, i: number) {
  const h = hash(tenant * 100_003 + i);
  const users = 5 + (h % 400);
  return {
    '@odata.type': '#microsoft.graph.partner.security.customerInsight',
    tenantId: customerId(tenant, i),
    mfa: {
      '@odata.type': 'microsoft.graph.partner.security.customerMfaInsight',
      compliantAdminsCount: 1 + (h % 4),
      compliantNonAdminsCount: Math.floor(users * ((h % 100) / 100)),
      totalUsersCount: users,
      securityDefaultsStatus: h % 3 === 0 ? 'enabled' : 'disabled',
      mfaConditionalAccessPolicyStatus: h % 5 < 3 ? 'enabled' : 'disabled',
      legacyPerUserMfaStatus: h % 7 === 0 ? 'enabled' : 'disabled',
    },
  };
}

function alert(tenant: number, i: number, customers: number, nowMs: number) {
  const h = hash(tenant * 1_000_003 + i);
  const open = i % 10 === 0;
  // Open ones were detected in the last 3 days; resolved ones over the last 60 days, a few hours after detection.
  const detectedMs = nowMs - (open ? h % (3 * DAY_MS) : (h % (60 * DAY_MS)) + 12 * 3600_000);
  const resolvedMs = detectedMs + (h % (36 * 3600_000));
  const customerTenantId = customerId(tenant, customers === 0 ? 0 : h % customers);
  return {
    '@odata.type': '#microsoft.graph.partner.security.partnerSecurityAlert',
    id: `a${tenant.toString(16).padStart(7, '0')}-${(h & 0xffff).toString(16).padStart(4, '0')}-4000-8000-${i.toString(16).padStart(12, '0')}`,
    displayName: 'Unusual activity detected in a customer subscription',
    description: 'Activity far above this customer\u2019s usual pattern was detected; review the affected resources and resolve the alert.',
    alertType: TYPES[h % TYPES.length],
    status: open ? (h % 4 === 0 ? 'investigating' : 'active') : 'resolved',
    severity: SEVERITIES[(h >>> 8) % SEVERITIES.length],
    confidenceLevel: 'medium',
    customerTenantId,
    subscriptionId: `b4c5d6e7-f8a9-4b0c-9d1e-${(h % 1_000_000).toString(16).padStart(12, '0')}`,
    valueAddedResellerTenantId: null,
    catalogOfferId: 'DZH318Z0BQ3Q',
    detectedDateTime: new Date(detectedMs).toISOString(),
    firstObservedDateTime: new Date(detectedMs - 3600_000).toISOString(),
    lastObservedDateTime: new Date(detectedMs - 60_000).toISOString(),
    resolvedBy: open ? null : 'admin@partner.example',
    resolvedOnDateTime: open ? null : new Date(resolvedMs).toISOString(),
    resolvedReason: open ? null : 'legitimate',
    isTest: false,
    additionalDetails: { region: 'westeurope' },
    affectedResources: [
      {
        '@odata.type': '#microsoft.graph.partner.security.affectedResource',
        resourceType: 'virtualMachine',
        resourceId: `/subscriptions/b4c5d6e7/resourceGroups/rg${h % 50}/providers/Microsoft.Compute/virtualMachines/vm${h % 1000}`,
      },
    ],
    activityLogs: [],
  };
}

function requirements() {
  const base = (type: string, extra: Record<string, unknown> = {}) => ({
    '@odata.type': '#microsoft.graph.partner.security.securityRequirement',
    id: `scale-${type}`,
    requirementType: type,
    complianceStatus: 'compliant',
    actionUrl: `https://partner.microsoft.com/dashboard/securityrequirements#${type}`,
    helpUrl: 'https://learn.microsoft.com/partner-center/security/security-requirements-status',
    score: 20,
    maxScore: 20,
    state: 'active',
    updatedDateTime: '2026-11-01T00:00:00Z',
    ...extra,
  });
  return [
    base('securityContactProvided'),
    base('mfaEnforcedForAdmins', {
      '@odata.type': '#microsoft.graph.partner.security.adminsMfaEnforcedSecurityRequirement',
      totalAdminsCount: 6,
      mfaEnabledAdminsCount: 6,
      adminsRequiredNotUsingMfaCount: 0,
      totalUsersCount: 48,
      mfaEnabledUsersCount: 40,
      usersRequiredNotUsingMfaCount: 8,
      securityDefaultsStatus: 'disabled',
      mfaConditionalAccessPolicyStatus: 'enabled',
      legacyPerUserMfaStatus: 'disabled',
    }),
    base('securityAlertsPromptlyResolved', {
      '@odata.type': '#microsoft.graph.partner.security.responseTimeSecurityRequirement',
      averageResponseTimeInHours: 9.5,
    }),
    base('mfaEnforcedForAdminsOfCustomers', {
      '@odata.type': '#microsoft.graph.partner.security.customersMfaEnforcedSecurityRequirement',
      compliantTenantCount: 900,
      totalTenantCount: 1000,
    }),
    base('spendingBudgetSetForCustomerAzureSubscriptions', {
      '@odata.type': '#microsoft.graph.partner.security.customersSpendingBudgetSecurityRequirement',
      customersWithSpendBudgetCount: 25,
      totalCustomersCount: 40,
      state: 'preview',
    }),
  ];
}

function history(nowMs: number) {
  const today = Math.floor(nowMs / DAY_MS) * DAY_MS;
  return Array.from({ length: 90 }, (_, i) => ({
    '@odata.type': '#microsoft.graph.partner.security.securityScoreHistory',
    id: `scale-history-${i}`,
    createdDateTime: new Date(today - (89 - i) * DAY_MS).toISOString(),
    score: 100,
    compliantRequirementsCount: 5,
    totalRequirementsCount: 5,
  }));
}

/** Starts the scale cloud; the shape may be changed while it runs (the stack test does not). */
export async function startScaleCloud(shape: ScaleShape) {
  const cloud = await startFakeCloud();
  // The fake cloud remembers every request for the tests' assertions: here only the count matters.
  const forget = () => {
    cloud.graphRequests.length = 0;
    cloud.tokenRequests.length = 0;
    cloud.issuedTokens.length = 0;
    cloud.discoveryRequests.length = 0;
  };
  cloud.tokenAnswer = (request) => ({
    status: 200,
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify({
      token_type: 'Bearer',
      expires_in: 3599,
      access_token: unsignedJwt({ aud: cloud.url, tid: request.tenant, exp: Math.floor(Date.now() / 1000) + 3599 }),
    }),
  });
  const tenantOf = (authorization: string | undefined) => {
    const payload = (authorization ?? '').replace(/^Bearer /, '').split('.')[1] ?? '';
    try {
      return tenantNumber(String((JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { tid?: unknown }).tid ?? ''));
    } catch {
      return 0;
    }
  };
  const origin = cloud.url;
  const skipOf = (query: string) => Number(new URLSearchParams(query).get('$skiptoken') ?? '0') || 0;
  cloud.graphDefault = (request) => {
    forget();
    const nowMs = Date.now();
    const expand = (new URLSearchParams(request.query).get('$expand') ?? '').split(',');
    return {
      body: {
        '@odata.context': 'https://graph.microsoft.com/beta/$metadata#security/partner/securityScore/$entity',
        '@odata.type': '#microsoft.graph.partner.security.partnerSecurityScore',
        id: 'scale-score',
        currentScore: 100,
        maxScore: 100,
        lastRefreshDateTime: new Date(nowMs).toISOString(),
        updatedDateTime: '2026-11-01T00:00:00Z',
        ...(expand.includes('requirements') ? { requirements: requirements() } : {}),
        ...(expand.includes('history') ? { history: history(nowMs) } : {}),
      },
    };
  };
  cloud.relationDefault = (request) => {
    const tenant = tenantOf(request.authorization);
    if (request.path === `${SECURITY_SCORE_PATH}/requirements`) return { body: { value: requirements() } };
    if (request.path === `${SECURITY_SCORE_PATH}/history`) return { body: { value: history(Date.now()) } };
    if (request.path !== `${SECURITY_SCORE_PATH}/customerInsights`) return { status: 404, body: { error: { code: 'ResourceNotFound', message: 'no' } } };
    const skip = skipOf(request.query);
    const end = Math.min(shape.customers, skip + CUSTOMERS_PER_PAGE);
    const value = Array.from({ length: Math.max(0, end - skip) }, (_, k) => customer(tenant, skip + k));
    const next = end < shape.customers ? { '@odata.nextLink': `${origin}${SECURITY_SCORE_PATH}/customerInsights?$skiptoken=${end}` } : {};
    return { body: { value, ...next } };
  };
  cloud.alertsDefault = (request) => {
    const tenant = tenantOf(request.authorization);
    const nowMs = Date.now();
    const skip = skipOf(request.query);
    const end = Math.min(shape.alerts, skip + ALERTS_PER_PAGE);
    // $select, as Graph honours it: only the properties asked for (the exporter asks for those it reads).
    const select = new URLSearchParams(request.query).get('$select')?.split(',');
    const value = Array.from({ length: Math.max(0, end - skip) }, (_, k) => {
      const full = alert(tenant, skip + k, shape.customers, nowMs);
      return select === undefined ? full : Object.fromEntries(Object.entries(full).filter(([key]) => select.includes(key)));
    });
    const next =
      end < shape.alerts ? { '@odata.nextLink': `${origin}${SECURITY_ALERTS_PATH}?$skiptoken=${end}${select ? `&$select=${select.join(',')}` : ''}` } : {};
    return { body: { '@odata.context': 'https://graph.microsoft.com/beta/$metadata#security/partner/securityAlerts', value, ...next } };
  };
  return cloud;
}

/** The id of the bench's n-th partner tenant: the scale cloud reads n back from it. */
export function scaleTenantId(n: number): string {
  return `5ca1e000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { customers: { type: 'string', default: '1000' }, alerts: { type: 'string', default: '10000' } } });
  const cloud = await startScaleCloud({ customers: Number(values.customers), alerts: Number(values.alerts) });
  process.stdout.write(`${JSON.stringify({ url: cloud.url })}\n`);
  process.once('SIGTERM', () => {
    cloud.close().then(() => process.exit(0));
  });
}
