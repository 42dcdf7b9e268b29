/**
 * Two requirements Graph sends with the same type (two new members arriving as
 * "unknownFutureValue", or one repeated value) stay two series, through the real exporter and the
 * TLS fake of Graph.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { INTEGRATION_TIMEOUT_MS, killExporters, startExporter, TENANT_ID, until } from '../helpers/exporter.js';
import { closeFakeClouds, startFakeCloud, wrappedScoreBody } from '../helpers/fake-cloud.js';

afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

function scoreWith(requirements: object[]): string {
  const wrapped = JSON.parse(wrappedScoreBody()) as { value: Record<string, unknown> };
  wrapped.value.requirements = requirements;
  wrapped.value.history = [];
  return JSON.stringify(wrapped);
}

describe('requirements of one unknown type', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('never overwrite each other: a repeated type is told apart by the requirement id', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.graphDefault = {
      body: scoreWith([
        { id: 'mfaEnforcedForAdmins', requirementType: 'mfaEnforcedForAdmins', score: 30, maxScore: 30, complianceStatus: 'compliant' },
        { id: 'new-one', requirementType: 'unknownFutureValue', score: 5, maxScore: 10, complianceStatus: 'compliant' },
        { id: 'new-two', requirementType: 'unknownFutureValue', score: 0, maxScore: 20, complianceStatus: 'noncomplaint' },
        { requirementType: 'unknownFutureValue', score: 7, maxScore: 7 },
      ]),
    };
    const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m'] });
    await until(async () => (await exporter.value('partner_security_up', { tenant_id: TENANT_ID })) === 1, 10_000, 'a successful poll');
    const scores = (await exporter.samples())
      .filter((s) => s.name === 'partner_security_requirement_max_score')
      .map((s) => [s.labels.requirement_type, s.value])
      .sort();
    expect(scores).toEqual([
      ['mfaEnforcedForAdmins', 30],
      // The one without an id is told apart by its place among the requirements of its type.
      ['unknownFutureValue#3', 7],
      ['unknownFutureValue:new-one', 10],
      ['unknownFutureValue:new-two', 20],
    ]);
  });
});
