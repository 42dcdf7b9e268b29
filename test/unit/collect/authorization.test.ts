/**
 * The authorization signal: at risk, not at risk, or unknown and why, from one snapshot. Never a
 * reassuring "not at risk" without data: a mandatory requirement missing from Graph's answer, one
 * without a status, requirements not read or stale all make it unknown.
 */
import { describe, expect, it } from 'vitest';
import { assessAuthorization, nextValidationMs } from '../../../src/collect/authorization.js';
import { readRelations } from '../../../src/collect/relations.js';
import { initialSnapshot, type PartnerProgram, type Requirement, type TenantSnapshot } from '../../../src/snapshot.js';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const HOUR = 3_600_000;
const STALENESS = 3 * HOUR;

const req = (type: string, compliant: boolean | undefined, over: Partial<Requirement> = {}): Requirement => ({
  type,
  state: 'active',
  ...(compliant === undefined ? {} : { compliant }),
  actionUrl: `https://partner.microsoft.com/${type}`,
  ...over,
});
const ALL_MET = [req('mfaEnforcedForAdmins', true), req('securityContactProvided', true), req('securityAlertsPromptlyResolved', true)];

function tenant(requirements: readonly Requirement[] | undefined, partner?: PartnerProgram, over: Partial<TenantSnapshot> = {}): TenantSnapshot {
  return {
    ...initialSnapshot('t', {}, partner),
    relations: requirements === undefined ? {} : { requirements },
    relationStatus: { requirements: requirements === undefined ? 'disabled' : 'ok' },
    relationsReadMs: requirements === undefined ? {} : { requirements: NOW - 60_000 },
    lastSuccessMs: NOW - 60_000,
    ...over,
  };
}

const assess = (t: TenantSnapshot) => assessAuthorization(t, NOW, STALENESS);

describe('assessAuthorization', () => {
  it('is not at risk when every mandatory requirement is reported compliant; recommended and preview ones do not count', () => {
    const a = assess(tenant([...ALL_MET, req('mfaEnforcedForAdminsOfCustomers', false), req('spendingBudgetSetForCustomerAzureSubscriptions', false)]));
    expect(a).toMatchObject({ state: 'not_at_risk', failing: [], unknown: [], partnerType: 'direct' });
    expect(a.mandatory).toEqual(['mfaEnforcedForAdmins', 'securityContactProvided', 'securityAlertsPromptlyResolved']);
  });

  it('is at risk with each failing mandatory requirement', () => {
    const a = assess(tenant([req('mfaEnforcedForAdmins', false), req('securityContactProvided', false), req('securityAlertsPromptlyResolved', true)]));
    expect(a.state).toBe('at_risk');
    expect(a.failing.map((r) => [r.type, r.actionUrl])).toEqual([
      ['mfaEnforcedForAdmins', 'https://partner.microsoft.com/mfaEnforcedForAdmins'],
      ['securityContactProvided', 'https://partner.microsoft.com/securityContactProvided'],
    ]);
  });

  it('counts a mandatory requirement Graph sends twice, after the labels were told apart by id', async () => {
    const items = [
      { requirementType: 'mfaEnforcedForAdmins', id: 'one', complianceStatus: 'compliant', state: 'active' },
      { requirementType: 'mfaEnforcedForAdmins', id: 'two', complianceStatus: 'noncomplaint', state: 'active' },
      { requirementType: 'securityContactProvided', id: 'c', complianceStatus: 'compliant', state: 'active' },
      { requirementType: 'securityAlertsPromptlyResolved', id: 'a', complianceStatus: 'compliant', state: 'active' },
    ];
    const read = await readRelations({
      get: () => Promise.reject(new Error('nothing is fetched: the requirements are inline')),
      collectors: { requirements: true, history: false, customerInsights: false, maxPages: 1, maxCustomers: 0 },
      limits: { maxPages: 1, maxBytes: 1 << 20 },
      expanded: { requirements: items },
      nowMs: NOW,
      selectRefused: new Set(),
      noteOnce: () => {},
    });
    const requirements = read.relations.requirements ?? [];
    expect(requirements.map((r) => r.type)).toEqual([
      'mfaEnforcedForAdmins:one',
      'mfaEnforcedForAdmins:two',
      'securityContactProvided',
      'securityAlertsPromptlyResolved',
    ]);
    const a = assess(tenant(requirements));
    expect(a.state).toBe('at_risk');
    expect(a.failing.map((r) => r.type)).toEqual(['mfaEnforcedForAdmins:two']);
  });

  it('is unknown, not "not at risk", when a mandatory requirement is missing from the answer or has no status', () => {
    expect(assess(tenant([req('mfaEnforcedForAdmins', true), req('securityContactProvided', true)]))).toMatchObject({
      state: 'unknown',
      unknown: [{ kind: 'missing', types: ['securityAlertsPromptlyResolved'] }],
    });
    expect(assess(tenant([req('mfaEnforcedForAdmins', true), req('securityContactProvided', undefined), ALL_MET[2] as Requirement]))).toMatchObject({
      state: 'unknown',
      unknown: [{ kind: 'compliance_unknown', types: ['securityContactProvided'] }],
    });
    // A known failure is a known risk, whatever else is missing; what is missing is still said.
    expect(assess(tenant([req('mfaEnforcedForAdmins', false)]))).toMatchObject({
      state: 'at_risk',
      unknown: [{ kind: 'missing', types: ['securityContactProvided', 'securityAlertsPromptlyResolved'] }],
    });
  });

  it('leaves the alert-response requirement out for an indirect reseller, and keeps it for an indirect provider', () => {
    const slow = [req('mfaEnforcedForAdmins', true), req('securityContactProvided', true), req('securityAlertsPromptlyResolved', false)];
    expect(assess(tenant(slow, { type: 'indirect_reseller' }))).toMatchObject({
      state: 'not_at_risk',
      mandatory: ['mfaEnforcedForAdmins', 'securityContactProvided'],
    });
    expect(assess(tenant(slow.slice(0, 2), { type: 'indirect_reseller' })).state).toBe('not_at_risk');
    expect(assess(tenant(slow, { type: 'indirect_provider' })).state).toBe('at_risk');
    expect(assess(tenant(slow)).state).toBe('at_risk');
  });

  it('does not count a mandatory type in preview, and does not call it missing either', () => {
    const previewed = [
      req('mfaEnforcedForAdmins', true),
      req('securityContactProvided', true),
      req('securityAlertsPromptlyResolved', false, { state: 'preview' }),
    ];
    expect(assess(tenant(previewed)).state).toBe('not_at_risk');
  });

  it('is unknown before the first poll, with the requirements turned off, unavailable or failed, and once they are stale', () => {
    expect(assess(initialSnapshot('t')).unknown).toEqual([{ kind: 'not_polled' }]);
    expect(assess(tenant(undefined)).unknown).toEqual([{ kind: 'not_read', status: 'disabled' }]);
    expect(assess(tenant(undefined, undefined, { relationStatus: { requirements: 'unavailable' } })).unknown).toEqual([
      { kind: 'not_read', status: 'unavailable' },
    ]);
    // Requirements that keep failing keep their last data: current enough for a while, then stale, though the score is fresh.
    const failing = (readAgoMs: number) =>
      tenant(ALL_MET, undefined, { relationStatus: { requirements: 'failed' }, relationsReadMs: { requirements: NOW - readAgoMs }, lastSuccessMs: NOW - 1000 });
    expect(assess(failing(STALENESS)).state).toBe('not_at_risk');
    expect(assess(failing(STALENESS + 1))).toMatchObject({ state: 'unknown', unknown: [{ kind: 'stale', readMs: NOW - STALENESS - 1 }] });
    expect(assessAuthorization(failing(100 * STALENESS), NOW, 0).state).toBe('not_at_risk');
  });

  it('ages the requirements on the monotonic clock: a wall-clock step neither makes them stale nor keeps them fresh', () => {
    const read = { relationsReadMs: { requirements: NOW - 60_000 }, relationsReadMonoMs: { requirements: 5_000 }, lastSuccessMonoMs: 5_000 };
    const t = tenant(ALL_MET, undefined, read);
    // The wall clock jumped 10 hours ahead while one real minute passed: still fresh.
    expect(assessAuthorization(t, NOW + 10 * HOUR, STALENESS, 5_000 + 60_000).state).toBe('not_at_risk');
    // The wall clock went an hour back while four real hours passed: stale.
    expect(assessAuthorization(t, NOW - HOUR, STALENESS, 5_000 + 4 * HOUR)).toMatchObject({ state: 'unknown', unknown: [{ kind: 'stale' }] });
  });

  it('gives the next validation when the month is configured, and only then', () => {
    expect(assess(tenant(ALL_MET)).nextValidationMs).toBeUndefined();
    expect(assess(tenant(ALL_MET, { type: 'direct', validationMonth: 3 })).nextValidationMs).toBe(Date.UTC(2027, 2, 1));
  });
});

describe('nextValidationMs', () => {
  it.each([
    ['before the month this year', 3, '2026-01-15T00:00:00Z', '2026-03-01T00:00:00.000Z'],
    ['inside the month: its start, the validation is under way', 3, '2026-03-31T23:59:59Z', '2026-03-01T00:00:00.000Z'],
    ['after the month: next year', 3, '2026-04-01T00:00:00Z', '2027-03-01T00:00:00.000Z'],
    ['December, inside it', 12, '2026-12-31T12:00:00Z', '2026-12-01T00:00:00.000Z'],
    ['January, after it', 1, '2026-02-01T00:00:00Z', '2027-01-01T00:00:00.000Z'],
  ])('%s', (_name, month, now, expected) => {
    expect(new Date(nextValidationMs(month, Date.parse(now))).toISOString()).toBe(expected);
  });
});
