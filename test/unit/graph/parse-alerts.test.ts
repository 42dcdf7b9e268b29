/**
 * parseSecurityAlert against what Graph really sends: isTest as a string, enum values in any case,
 * resolution dates with any status, dates in the future, and $select of exactly what is read.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_ALERT_FUTURE_SECONDS, parseSecurityAlert, SECURITY_ALERT_PROPERTIES, type SecurityAlertItem } from '../../../src/graph/parse.js';

const NOW = 1_800_000_000;
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const fixture = (name: string) =>
  (JSON.parse(readFileSync(new URL(`../../fixtures/graph/${name}`, import.meta.url), 'utf8')) as { value: Record<string, unknown>[] }).value;
/** isTest as a string, as Microsoft's own list example sends it ("false"), and a test alert in other cases ("True", "Active", "High"). */
const MICROSOFT_EXAMPLE = fixture('securityAlerts-isTest-string.json');

/** Parses an alert and says which properties were reported as unreadable. */
function parse(item: SecurityAlertItem) {
  const quirks: string[] = [];
  const alert = parseSecurityAlert(item, NOW, (property, held) => quirks.push(`${property}: ${held}`));
  return { alert, quirks };
}

describe('isTest', () => {
  it.each([
    [true, true],
    ['true', true],
    ['TRUE', true],
    ['True', true],
    [false, false],
    ['false', false],
    ['FALSE', false],
    [null, false],
    [undefined, false],
  ])('%j is read as %s, silently', (isTest, expected) => {
    const { alert, quirks } = parse({ id: 'a', status: 'active', isTest });
    expect(alert.isTest).toBe(expected);
    expect(quirks).toEqual([]);
  });

  it.each([
    ['1', 1],
    ['0', 0],
    ['"yes"', 'yes'],
    ['""', ''],
    ['" true"', ' true'],
    ['"truee"', 'truee'],
    ['{}', {}],
    ['["true"]', ['true']],
    ['10 MB of "true"', 'true'.repeat(2_500_000)],
  ])('%s is unreadable: reported, and a real alert (never a silent test alert)', (_name, isTest) => {
    const { alert, quirks } = parse({ id: 'a', status: 'active', isTest });
    expect(alert.isTest).toBe(false);
    expect(alert.open).toBe(true);
    expect(quirks).toHaveLength(1);
    expect(quirks[0]).toMatch(/^isTest: /);
    expect(quirks[0]?.length).toBeLessThan(80);
  });

  it("reads isTest sent as a string, as in Microsoft's list example", () => {
    const alerts = MICROSOFT_EXAMPLE.map((item) => parse(item));
    expect(alerts.map(({ alert }) => alert.isTest)).toEqual([false, true]);
    expect(alerts.flatMap(({ quirks }) => quirks)).toEqual([]);
  });
});

describe('status, severity and dates', () => {
  it.each([
    ['resolved', 'resolved', false],
    ['Resolved', 'resolved', false],
    ['RESOLVED', 'resolved', false],
    ['Active', 'active', true],
    ['INVESTIGATING', 'investigating', true],
    ['UnknownFutureValue', 'unknownFutureValue', true],
    ['escalatedToMicrosoft', 'escalatedToMicrosoft', true],
  ])('status %j is labelled %j and is open: %s', (status, label, open) => {
    const { alert } = parse({ id: 'a', status });
    expect(alert.status).toBe(label);
    expect(alert.open).toBe(open);
  });

  it.each([
    ['High', 'high'],
    ['LOW', 'low'],
    ['Informational', 'informational'],
    ['critical', 'critical'],
    [undefined, 'unknown'],
  ])('severity %j is labelled %j', (severity, label) => {
    expect(parse({ id: 'a', severity }).alert.severity).toBe(label);
  });

  it('never counts an alert with a resolution date as open, whatever its status says', () => {
    const resolvedOnDateTime = iso(NOW - 3600);
    expect(parse({ id: 'a', resolvedOnDateTime }).alert).toMatchObject({ status: 'unknown', open: false, resolvedTimestamp: NOW - 3600 });
    expect(parse({ id: 'a', status: 'active', resolvedOnDateTime }).alert.open).toBe(false);
    expect(parse({ id: 'a', status: 'somethingNew', resolvedOnDateTime }).alert.open).toBe(false);
    // Without one, only "resolved" closes it.
    expect(parse({ id: 'a' }).alert.open).toBe(true);
    expect(parse({ id: 'a', status: 'somethingNew' }).alert.open).toBe(true);
  });

  it('treats a date more than a day ahead of the poll as absent, and keeps one a day ahead', () => {
    const atBound = NOW + MAX_ALERT_FUTURE_SECONDS;
    const kept = parse({ id: 'a', status: 'active', detectedDateTime: iso(atBound) }).alert;
    expect(kept.detectedTimestamp).toBe(atBound);
    const ahead = parse({ id: 'a', status: 'active', detectedDateTime: iso(atBound + 1) }).alert;
    expect(ahead.detectedTimestamp).toBeUndefined();
    // A resolution "tomorrow and a bit" is no resolution: the alert is open.
    const resolvedAhead = parse({ id: 'a', status: 'active', resolvedOnDateTime: iso(atBound + 1) }).alert;
    expect(resolvedAhead).toMatchObject({ open: true });
    expect(resolvedAhead.resolvedTimestamp).toBeUndefined();
    expect(parse({ id: 'a', status: 'active', resolvedOnDateTime: iso(atBound) }).alert.open).toBe(false);
  });
});

describe('$select', () => {
  it('names exactly the properties the parser reads', () => {
    const read = new Set<string>();
    const watched = new Proxy(MICROSOFT_EXAMPLE[0] ?? {}, {
      get(target, key, receiver) {
        if (typeof key === 'string') read.add(key);
        return Reflect.get(target, key, receiver);
      },
    });
    parseSecurityAlert(watched, NOW);
    expect([...read].sort()).toEqual([...SECURITY_ALERT_PROPERTIES].sort());
  });

  it('loses nothing: an alert cut to the selected properties parses as the whole one', () => {
    for (const item of [...fixture('securityAlerts.json'), ...fixture('securityAlerts-page2.json'), ...MICROSOFT_EXAMPLE]) {
      const cut = Object.fromEntries(Object.entries(item).filter(([key]) => (SECURITY_ALERT_PROPERTIES as readonly string[]).includes(key)));
      expect(parseSecurityAlert(cut, NOW)).toEqual(parseSecurityAlert(item, NOW));
      expect(Object.keys(cut)).not.toContain('resolvedBy');
      expect(Object.keys(cut)).not.toContain('activityLogs');
    }
  });
});

describe('resolvedReason', () => {
  it.each([
    ['fraud', 'fraud'],
    ['Legitimate', 'legitimate'],
    ['IGNORE', 'ignore'],
    ['aReasonMicrosoftAdds', 'aReasonMicrosoftAdds'],
    [null, undefined],
    [undefined, undefined],
    [7, undefined],
  ])('%j is kept as %j (documented values in their spelling, others as sent)', (resolvedReason, expected) => {
    const { alert } = parse({ id: 'a', status: 'resolved', resolvedOnDateTime: iso(NOW - 60), resolvedReason });
    expect(alert.resolvedReason).toBe(expected);
  });

  it('is bounded like every label value', () => {
    const { alert } = parse({ id: 'a', status: 'resolved', resolvedReason: 'x'.repeat(100_000) });
    expect(alert.resolvedReason?.length ?? 0).toBeLessThanOrEqual(256);
  });
});
