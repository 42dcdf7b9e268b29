import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { complianceOf, GraphParseError, parseCollection, parseCustomerInsight, parseHistory, parseRequirement } from '../../../src/graph/parse.js';

const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`../../fixtures/graph/${name}`, import.meta.url), 'utf8'));

describe('requirements', () => {
  it('reads the admins MFA subtype of the reference example', () => {
    expect(parseRequirement(fixture('adminsMfaRequirement.json'))).toEqual({
      type: 'mfaEnforcedForAdmins',
      compliant: false,
      state: 'active',
      actionUrl: 'https://aka.ms/M365MFAWizard',
      helpUrl: 'https://aka.ms/partner-center-security-dashboard-require-mfa',
      score: 20,
      maxScore: 20,
      updatedTimestamp: Date.parse('2024-01-17T00:00:00Z') / 1000,
      details: {
        kind: 'adminsMfa',
        totalAdmins: 2,
        mfaEnabledAdmins: 2,
        adminsRequiredNotUsingMfa: 0,
        totalUsers: 10,
        mfaEnabledUsers: 9,
        usersRequiredNotUsingMfa: 1,
        policies: { securityDefaults: true, mfaConditionalAccessPolicy: false, legacyPerUserMfa: false },
      },
    });
  });

  it('reads the base type with numbers as strings, keyed by id when the type is missing (requirement-by-id example)', () => {
    const { value } = fixture('requirement-by-id.json') as { value: Record<string, unknown> };
    const { requirementType: _, ...withoutType } = value;
    expect(parseRequirement(value)).toMatchObject({ type: 'securityContactProvided', compliant: true, score: 20, maxScore: 20 });
    expect(parseRequirement(withoutType).type).toBe('securityContactProvided');
    expect(parseRequirement(value).details).toBeUndefined();
  });

  it.each([
    [
      '#microsoft.graph.partner.security.customersMfaEnforcedSecurityRequirement',
      { compliantTenantCount: '12', totalTenantCount: 40 },
      { kind: 'customersMfa', compliantTenants: 12, totalTenants: 40 },
    ],
    [
      'microsoft.graph.partner.security.customersSpendingBudgetSecurityRequirement',
      { customersWithSpendBudgetCount: 5, totalCustomersCount: '25' },
      { kind: 'spendingBudget', customersWithBudget: 5, totalCustomers: 25 },
    ],
    [
      '#microsoft.graph.partner.security.responseTimeSecurityRequirement',
      { averageResponseTimeInHours: '1.5' },
      { kind: 'responseTime', averageResponseTimeSeconds: 5400 },
    ],
    ['#microsoft.graph.partner.security.responseTimeSecurityRequirement', { averageResponseTimeInHours: 'NaN' }, { kind: 'responseTime' }],
  ])('reads the subtype %s', (odataType, fields, details) => {
    expect(parseRequirement({ '@odata.type': odataType, requirementType: 'x', ...fields }).details).toEqual(details);
  });

  it('finds the subtype by requirementType when Graph sends the base @odata.type', () => {
    expect(
      parseRequirement({
        '@odata.type': '#microsoft.graph.partner.security.securityRequirement',
        requirementType: 'securityAlertsPromptlyResolved',
        averageResponseTimeInHours: 30,
      }).details,
    ).toEqual({ kind: 'responseTime', averageResponseTimeSeconds: 108_000 });
  });

  it('keeps unknown requirement types and states as sent, and ignores unknown policy values', () => {
    const parsed = parseRequirement({
      requirementType: 'somethingNew',
      state: 'unknownFutureValue',
      complianceStatus: 'unknownFutureValue',
      securityDefaultsStatus: 'unknownFutureValue',
    });
    expect(parsed).toEqual({ type: 'somethingNew', state: 'unknownFutureValue' });
  });

  it.each([
    ['compliant', true],
    ['Compliant', true],
    ['noncomplaint', false],
    ['noncompliant', false],
    ['nonCompliant', false],
    ['NonCompliant', false],
    ['unknownFutureValue', undefined],
    ['', undefined],
    [null, undefined],
    [1, undefined],
  ])('reads complianceStatus %j as %j', (value, expected) => {
    expect(complianceOf(value)).toBe(expected);
  });

  it('keeps label values short and printable', () => {
    const parsed = parseRequirement({ requirementType: `a\nb${'x'.repeat(1000)}`, actionUrl: 'https://x/\u0000y' });
    expect(parsed.type).toHaveLength(256);
    expect(parsed.type.startsWith('abx')).toBe(true);
    expect(parsed.actionUrl).toBe('https://x/y');
  });
});

describe('collections', () => {
  it('reads value and the opaque next link', () => {
    expect(parseCollection({ value: [{ a: 1 }, 'junk', null], '@odata.nextLink': 'https://graph/next?$skiptoken=abc' }, 'x')).toEqual({
      items: [{ a: 1 }],
      nextLink: 'https://graph/next?$skiptoken=abc',
    });
    expect(parseCollection({ value: [] }, 'x')).toEqual({ items: [] });
  });

  it.each([
    [{ value: {} }, 'expected a collection of securityRequirement, got an object without a "value" array'],
    [[], 'expected a collection of securityRequirement, got an array'],
  ])('rejects %j', (body, message) => {
    expect(() => parseCollection(body, 'securityRequirement')).toThrow(new GraphParseError(message));
  });
});

describe('history', () => {
  it('reads the reference example and sorts oldest first, skipping undated entries', () => {
    const items = [
      ...(fixture('history.json').value as Record<string, unknown>[]),
      { createdDateTime: '2023-12-01T00:00:00Z', score: '10', compliantRequirementsCount: 3, totalRequirementsCount: '5' },
      { score: 99 },
    ];
    expect(parseHistory(items)).toEqual([
      { createdTimestamp: Date.parse('2023-12-01T00:00:00Z') / 1000, score: 10, compliantRequirements: 3, totalRequirements: 5 },
      { createdTimestamp: Date.parse('2024-01-17T00:00:00Z') / 1000, score: 14.29, compliantRequirements: 4, totalRequirements: 5 },
    ]);
  });
});

describe('customer insights', () => {
  it('reads the reference example', () => {
    const [item] = fixture('customerInsights.json').value as Record<string, unknown>[];
    expect(parseCustomerInsight(item ?? {})).toEqual({
      tenantId: 'd90cb160-123d-0608-3fd6-c53551dcc20c',
      compliantAdmins: 1,
      compliantNonAdmins: 2,
      totalUsers: 5,
      policies: { securityDefaults: true, mfaConditionalAccessPolicy: false, legacyPerUserMfa: false },
    });
  });

  it('skips a customer without a tenantId and survives a missing mfa object', () => {
    expect(parseCustomerInsight({ mfa: {} })).toBeUndefined();
    expect(parseCustomerInsight({ tenantId: 'c1' })).toEqual({ tenantId: 'c1', policies: {} });
  });
});
