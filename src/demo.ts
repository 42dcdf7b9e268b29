/**
 * --demo: a simulated partner tenant served by an in-process fake Graph on loopback, reached
 * through the same Graph client as production with a static token. The score climbs as the
 * simulated partner fixes requirements, then one regresses and the cycle starts again: its
 * authorization is at risk until the mandatory requirements are met (step 6 of 12), and a
 * recommended requirement regresses on the way (steps 7 and 8). Security
 * alerts open, age and are resolved over the same cycle, one of them after crossing the 20-hour
 * threshold, beside a test alert that never pages. main
 * chooses it once: startDemo() gives the Graph root, credential and scope a real tenant would have.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AccessToken, TokenCredential } from '@azure/identity';
import type { Target } from './collect/targets.js';
import { DEFAULT_PARTNER_PROGRAM, type PartnerProgram } from './snapshot.js';

/** The tenant_id label of the simulated tenant. */
export const DEMO_TENANT_ID = 'demo';
/** How the demo's credential is named in the start-up log and by --config.check. */
export const DEMO_CREDENTIAL_NAME = 'demo (static token)';
const DEMO_TOKEN = 'demo-static-token-not-a-secret';
/** How long one simulated step lasts by default. */
export const DEMO_STEP_MS = 20_000;
const STEPS_PER_CYCLE = 12;
const HISTORY_DAYS = 90;
/** Customers of the simulated partner, served in pages like Graph's customerInsights. */
export const DEMO_CUSTOMERS = 240;
const CUSTOMERS_PER_PAGE = 100;
const DAY_MS = 24 * 3600_000;
const HOUR_MS = 3600_000;
/** Alerts per page of the demo's securityAlerts, small so that the demo pages like Graph. */
const ALERTS_PER_PAGE = 4;

/** The token scope of demo mode: the real Graph's, as the fake Graph stands in for it. */
export const DEMO_SCOPE = 'https://graph.microsoft.com/.default';

/** A credential that always returns the demo token; nothing leaves the machine. */
export function demoCredential(): TokenCredential {
  return {
    async getToken(): Promise<AccessToken> {
      return { token: DEMO_TOKEN, expiresOnTimestamp: Date.now() + 3600_000, tokenType: 'Bearer' };
    },
  };
}

interface DemoRequirement {
  type: string;
  state: 'active' | 'preview';
  maxScore: number;
  /** Step of the cycle from which the requirement is compliant. */
  fixedAtStep: number;
  /** Steps [from, to) in which it is not compliant again after it was fixed: a regression. */
  regressed?: readonly [number, number];
  extra: (progress: number, compliant: boolean) => Record<string, unknown>;
}

/** Whether a demo requirement is compliant at a step of the cycle. */
function compliantAt(r: DemoRequirement, step: number): boolean {
  return step >= r.fixedAtStep && !(r.regressed !== undefined && step >= r.regressed[0] && step < r.regressed[1]);
}

const REQUIREMENTS: readonly DemoRequirement[] = [
  { type: 'securityContactProvided', state: 'active', maxScore: 20, fixedAtStep: 0, extra: () => ({}) },
  {
    type: 'mfaEnforcedForAdmins',
    state: 'active',
    maxScore: 20,
    fixedAtStep: 3,
    extra: (p) => {
      const mfaAdmins = Math.min(6, 3 + Math.floor(p * 12));
      return {
        '@odata.type': '#microsoft.graph.partner.security.adminsMfaEnforcedSecurityRequirement',
        totalAdminsCount: 6,
        mfaEnabledAdminsCount: mfaAdmins,
        adminsRequiredNotUsingMfaCount: 6 - mfaAdmins,
        totalUsersCount: 48,
        mfaEnabledUsersCount: 40,
        usersRequiredNotUsingMfaCount: 8,
        securityDefaultsStatus: 'disabled',
        mfaConditionalAccessPolicyStatus: 'enabled',
        legacyPerUserMfaStatus: 'disabled',
      };
    },
  },
  {
    type: 'securityAlertsPromptlyResolved',
    state: 'active',
    maxScore: 20,
    fixedAtStep: 6,
    // Over the 24-hour limit while it is not compliant, under it once it is, falling as the partner answers faster.
    extra: (p, compliant) => ({
      '@odata.type': '#microsoft.graph.partner.security.responseTimeSecurityRequirement',
      averageResponseTimeInHours: Math.round((compliant ? Math.max(6, 20 - (p - 6 / 11) * 30) : 40 - p * 30) * 10) / 10,
    }),
  },
  // Recommended: met early, lost at step 7 when a new customer arrives without admin MFA (while the
  // partner is out of risk: PartnerSecurityRequirementRegressed, not PartnerSecurityAuthorizationAtRisk), met again at 9.
  {
    type: 'mfaEnforcedForAdminsOfCustomers',
    state: 'active',
    maxScore: 20,
    fixedAtStep: 1,
    regressed: [7, 9],
    extra: (_p, compliant) => ({
      '@odata.type': '#microsoft.graph.partner.security.customersMfaEnforcedSecurityRequirement',
      compliantTenantCount: compliant ? 40 : 39,
      totalTenantCount: 40,
    }),
  },
  {
    type: 'spendingBudgetSetForCustomerAzureSubscriptions',
    state: 'preview',
    maxScore: 20,
    fixedAtStep: 11,
    extra: (p) => ({
      '@odata.type': '#microsoft.graph.partner.security.customersSpendingBudgetSecurityRequirement',
      customersWithSpendBudgetCount: Math.min(25, 5 + Math.floor(p * 22)),
      totalCustomersCount: 25,
    }),
  },
];

/** The simulated tenant at a moment, as Graph would return it (entities, not response bodies). */
export function demoTenantAt(nowMs: number, startMs: number, stepMs = DEMO_STEP_MS) {
  const elapsedSteps = Math.max(0, Math.floor((nowMs - startMs) / stepMs));
  const step = elapsedSteps % STEPS_PER_CYCLE;
  const progress = step / (STEPS_PER_CYCLE - 1);
  // The data "changed" at the start of the current step; Microsoft "checked" it at the last poll.
  const changedAt = new Date(startMs + elapsedSteps * stepMs).toISOString();
  const requirements = REQUIREMENTS.map((r) => {
    const compliant = compliantAt(r, step);
    return {
      '@odata.type': '#microsoft.graph.partner.security.securityRequirement',
      id: `demo-${r.type}`,
      requirementType: r.type,
      complianceStatus: compliant ? 'compliant' : 'noncomplaint',
      actionUrl: `https://partner.microsoft.com/dashboard/securityrequirements#${r.type}`,
      helpUrl: 'https://learn.microsoft.com/partner-center/security/security-requirements-status',
      score: compliant ? r.maxScore : 0,
      maxScore: r.maxScore,
      state: r.state,
      updatedDateTime: changedAt,
      ...r.extra(progress, compliant),
    };
  });
  const currentScore = requirements.reduce((sum, r) => sum + r.score, 0);
  // 90 days of history: the score climbed in steps to where it is today.
  const history = Array.from({ length: HISTORY_DAYS }, (_, i) => {
    const daysAgo = HISTORY_DAYS - 1 - i;
    const pastStep = Math.max(0, step - Math.ceil(daysAgo / 8));
    const compliantCount = REQUIREMENTS.filter((r) => compliantAt(r, pastStep)).length;
    return {
      '@odata.type': '#microsoft.graph.partner.security.securityScoreHistory',
      id: `demo-history-${i}`,
      createdDateTime: new Date(Math.floor(nowMs / DAY_MS) * DAY_MS - daysAgo * DAY_MS).toISOString(),
      score: compliantCount * 20,
      compliantRequirementsCount: compliantCount,
      totalRequirementsCount: REQUIREMENTS.length,
    };
  });
  const customers = Array.from({ length: DEMO_CUSTOMERS }, (_, i) => demoCustomer(i, step));
  const alerts = demoAlerts(step, startMs + elapsedSteps * stepMs, nowMs);
  return {
    score: {
      '@odata.type': '#microsoft.graph.partner.security.partnerSecurityScore',
      id: 'demo-partner-security-score',
      currentScore,
      maxScore: 100,
      lastRefreshDateTime: new Date(nowMs).toISOString(),
      updatedDateTime: changedAt,
    },
    requirements,
    history,
    customers,
    alerts,
  };
}

interface DemoAlert {
  id: string;
  alertType: string;
  severity: string;
  customer: number;
  isTest: boolean;
  /** Step of the cycle the alert is detected at; it is absent before. */
  opensAt: number;
  /** Simulated hours an alert ages per step: the cycle lasts minutes, the alerts live for a day. */
  hoursPerStep: number;
  /** Step from which someone is looking at it, and step it is resolved at (never for the test alert). */
  investigatedAt?: number;
  resolvedAt?: number;
}

const ALERTS: readonly DemoAlert[] = [
  // Crosses 20 hours at step 9 (PartnerSecurityAlertOpenTooLong fires) and is resolved at step 10, after 23.5 h.
  {
    id: 'demo-alert-consumption',
    alertType: 'unusualAzureConsumption',
    severity: 'high',
    customer: 7,
    isTest: false,
    opensAt: 1,
    hoursPerStep: 2.5,
    investigatedAt: 8,
    resolvedAt: 10,
  },
  {
    id: 'demo-alert-mining',
    alertType: 'cryptoMiningActivityDetected',
    severity: 'medium',
    customer: 42,
    isTest: false,
    opensAt: 3,
    hoursPerStep: 1.5,
    investigatedAt: 5,
    resolvedAt: 7,
  },
  // Open from the start of the cycle, so that every panel has an open alert to show.
  { id: 'demo-alert-signin', alertType: 'unusualSignInActivity', severity: 'low', customer: 42, isTest: false, opensAt: 0, hoursPerStep: 1, resolvedAt: 11 },
  // Old and open, yet it never pages: a test alert.
  { id: 'demo-alert-test', alertType: 'testAlert', severity: 'high', customer: 0, isTest: true, opensAt: 0, hoursPerStep: 3 },
];

/**
 * Resolved in the past 30 days: days ago, hours taken and the reason, so the 30-day average has
 * something to average and the resolution reasons (one fraud among them) something to count.
 */
const RESOLVED_ALERTS: readonly [number, number, string][] = [
  [2, 5, 'legitimate'],
  [5, 9, 'fraud'],
  [9, 14, 'legitimate'],
  [13, 4, 'ignore'],
  [18, 11, 'legitimate'],
  [24, 7, 'legitimate'],
  [29, 16, 'legitimate'],
];

/** The alerts of the simulated partner at a step: detection times count back from the start of the step. */
function demoAlerts(step: number, stepStartMs: number, nowMs: number) {
  const base = (a: { id: string; alertType: string; severity: string; customer: number; isTest: boolean }) => ({
    '@odata.type': '#microsoft.graph.partner.security.partnerSecurityAlert',
    id: a.id,
    displayName: `Demo: ${a.alertType}`,
    alertType: a.alertType,
    severity: a.severity,
    confidenceLevel: 'medium',
    customerTenantId: demoCustomerTenantId(a.customer),
    isTest: a.isTest,
  });
  const live = ALERTS.filter((a) => step >= a.opensAt).map((a) => {
    const resolved = a.resolvedAt !== undefined && step >= a.resolvedAt;
    // Ageing stops when it is resolved: its age then is the time it took.
    const ageHours = ((resolved ? (a.resolvedAt ?? step) : step) - a.opensAt) * a.hoursPerStep + 1;
    const detected = stepStartMs - ((step - a.opensAt) * a.hoursPerStep + 1) * HOUR_MS;
    return {
      ...base(a),
      status: resolved ? 'resolved' : a.investigatedAt !== undefined && step >= a.investigatedAt ? 'investigating' : 'active',
      detectedDateTime: new Date(detected).toISOString(),
      resolvedOnDateTime: resolved ? new Date(detected + ageHours * HOUR_MS).toISOString() : null,
      // Personal data, as Graph sends it: the exporter must drop it.
      resolvedBy: resolved ? 'demo.admin@partner.example' : null,
      resolvedReason: resolved ? 'legitimate' : null,
    };
  });
  const today = Math.floor(nowMs / DAY_MS) * DAY_MS;
  const past = RESOLVED_ALERTS.map(([daysAgo, hours, reason], i) => {
    const resolvedMs = today - daysAgo * DAY_MS;
    return {
      ...base({
        id: `demo-alert-resolved-${i}`,
        alertType: 'unusualAzureConsumption',
        severity: i % 2 === 0 ? 'medium' : 'low',
        customer: 10 + i,
        isTest: false,
      }),
      status: 'resolved',
      detectedDateTime: new Date(resolvedMs - hours * HOUR_MS).toISOString(),
      resolvedOnDateTime: new Date(resolvedMs).toISOString(),
      resolvedBy: 'demo.admin@partner.example',
      resolvedReason: reason,
    };
  });
  return [...live, ...past];
}

function demoCustomerTenantId(i: number): string {
  return `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
}

/** One simulated customer: a stable tenant ID, and MFA adoption that improves as the cycle goes on. */
function demoCustomer(i: number, step: number) {
  // A small deterministic hash spreads the customers' figures without any randomness.
  const h = (i * 2654435761) % 1000;
  const users = 5 + (h % 200);
  const adoption = Math.min(1, (h % 100) / 100 + step / (STEPS_PER_CYCLE * 2));
  return {
    '@odata.type': '#microsoft.graph.partner.security.customerInsight',
    tenantId: demoCustomerTenantId(i),
    mfa: {
      '@odata.type': 'microsoft.graph.partner.security.customerMfaInsight',
      compliantAdminsCount: 1 + (h % 3),
      compliantNonAdminsCount: Math.floor((users - 3) * adoption),
      totalUsersCount: users,
      securityDefaultsStatus: h % 3 === 0 ? 'enabled' : 'disabled',
      mfaConditionalAccessPolicyStatus: h % 3 === 1 || adoption > 0.9 ? 'enabled' : 'disabled',
      legacyPerUserMfaStatus: h % 7 === 0 ? 'enabled' : 'disabled',
    },
  };
}

/**
 * The demo tenant's partner program: as configured (--partner.*), with a validation month two
 * months ahead of startMs when none is, so that every surface shows a next validation date.
 */
export function demoPartner(configured: PartnerProgram, startMs: number): PartnerProgram {
  if (configured.validationMonth !== undefined) return configured;
  return Object.freeze({ ...configured, validationMonth: ((new Date(startMs).getUTCMonth() + 2) % 12) + 1 });
}

/** A running demo: what main needs to poll it as it polls a real tenant. */
export interface Demo {
  /** The simulated tenant as the poller's target. */
  readonly target: Target;
  /** http://127.0.0.1:<port>, to use as the Graph root. */
  readonly endpoint: string;
  /** Always the demo token, which the fake Graph alone accepts. */
  readonly credential: TokenCredential;
  /** The scope tokens are asked for: the fake Graph stands in for the real one. */
  readonly scope: string;
  /** Stops the fake Graph. */
  close(): Promise<void>;
}

/** Starts the fake Graph for demo mode on an ephemeral loopback port. */
export async function startDemo(options: { now?: () => number; stepMs?: number; partner?: PartnerProgram } = {}): Promise<Demo> {
  const now = options.now ?? Date.now;
  const startMs = now();
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'request-id': `demo-${Date.now()}` });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${DEMO_TOKEN}`)
      return send(401, { error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty.' } });
    const url = new URL(req.url ?? '/', 'http://demo');
    const tenant = demoTenantAt(now(), startMs, options.stepMs);
    const base = '/beta/security/partner/securityScore';
    if (url.pathname === base) {
      const expand = (url.searchParams.get('$expand') ?? '').split(',');
      const inline = Object.fromEntries((['requirements', 'history'] as const).filter((r) => expand.includes(r)).map((r) => [r, tenant[r]]));
      return send(200, { '@odata.context': 'https://graph.microsoft.com/beta/$metadata#security/partner/securityScore/$entity', ...tenant.score, ...inline });
    }
    if (url.pathname === `${base}/requirements`) return send(200, { value: tenant.requirements });
    if (url.pathname === `${base}/history`) return send(200, { value: tenant.history });
    if (url.pathname === `${base}/customerInsights`) {
      // Paged like Graph: the continuation sits in an opaque @odata.nextLink.
      const skip = Number(url.searchParams.get('$skiptoken') ?? '0') || 0;
      const page = tenant.customers.slice(skip, skip + CUSTOMERS_PER_PAGE);
      const more = skip + CUSTOMERS_PER_PAGE < tenant.customers.length;
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      return send(200, { value: page, ...(more ? { '@odata.nextLink': `${origin}${base}/customerInsights?$skiptoken=${skip + CUSTOMERS_PER_PAGE}` } : {}) });
    }
    if (url.pathname === '/beta/security/partner/securityAlerts') {
      const skip = Number(url.searchParams.get('$skiptoken') ?? '0') || 0;
      const more = skip + ALERTS_PER_PAGE < tenant.alerts.length;
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      return send(200, {
        value: tenant.alerts.slice(skip, skip + ALERTS_PER_PAGE),
        ...(more ? { '@odata.nextLink': `${origin}/beta/security/partner/securityAlerts?$skiptoken=${skip + ALERTS_PER_PAGE}` } : {}),
      });
    }
    return send(404, { error: { code: 'ResourceNotFound', message: `No demo resource at ${url.pathname}` } });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const credential = demoCredential();
  return {
    target: {
      tenantId: DEMO_TENANT_ID,
      labels: {},
      partner: demoPartner(options.partner ?? DEFAULT_PARTNER_PROGRAM, startMs),
      credentialName: DEMO_CREDENTIAL_NAME,
      endpoint,
      credential,
      scope: DEMO_SCOPE,
    },
    endpoint,
    credential,
    scope: DEMO_SCOPE,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
