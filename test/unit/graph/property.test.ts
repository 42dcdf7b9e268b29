import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/parse.js';
import { GraphParseError, parseCollection, parseCustomerInsight, parseHistory, parseRequirement, parseSecurityScore } from '../../../src/graph/parse.js';
import type { Requirement } from '../../../src/snapshot.js';

const RUNS = 300;
/** Graph-looking JSON: the known keys with values of every JSON type, plus noise. */
const jsonValue = fc.jsonValue({ maxDepth: 4 });
const numberish = fc.oneof(fc.double(), fc.integer(), fc.constantFrom('NaN', 'INF', '-INF', '20', ' 14.29 ', '', 'abc', '1e400'), jsonValue);
const scoreLike = fc.record(
  {
    '@odata.type': fc.constantFrom('#microsoft.graph.partner.security.partnerSecurityScore', 'microsoft.graph.partner.security.partnerSecurityScore', 'x'),
    id: jsonValue,
    currentScore: numberish,
    maxScore: numberish,
    lastRefreshDateTime: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      jsonValue,
    ),
    updatedDateTime: fc.oneof(fc.string(), jsonValue),
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  scoreLike,
  scoreLike.map((value) => ({ value })),
  jsonValue,
  fc.anything(),
);

/** Every number reachable in a parsed value. */
function numbers(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(numbers);
  return [];
}

/** Runs a parser: it may return or throw GraphParseError, nothing else. */
function outcome<T>(parse: () => T): T | GraphParseError {
  try {
    return parse();
  } catch (error) {
    if (error instanceof GraphParseError) return error;
    throw error;
  }
}

describe('parsers under random and mutated input', () => {
  it('parseSecurityScore throws only GraphParseError and never yields NaN or Infinity', () => {
    fc.assert(
      fc.property(body, (input) => {
        const result = outcome(() => parseSecurityScore(input));
        if (result instanceof GraphParseError) return;
        expect(numbers(result).every(Number.isFinite)).toBe(true);
        expect(Number.isFinite(result.currentScore)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('the relation parsers accept any object and yield only finite numbers and short labels', () => {
    const requirementLike = fc.dictionary(
      fc.constantFrom(
        '@odata.type',
        'requirementType',
        'complianceStatus',
        'state',
        'actionUrl',
        'helpUrl',
        'score',
        'maxScore',
        'totalAdminsCount',
        'averageResponseTimeInHours',
        'securityDefaultsStatus',
        'mfa',
        'tenantId',
        'createdDateTime',
      ),
      fc.oneof(
        numberish,
        fc.string(),
        fc.constantFrom('#microsoft.graph.partner.security.adminsMfaEnforcedSecurityRequirement', 'responseTimeSecurityRequirement', 'enabled', 'noncomplaint'),
      ),
    );
    fc.assert(
      fc.property(fc.array(requirementLike, { maxLength: 5 }), (items) => {
        const requirements: Requirement[] = items.map(parseRequirement);
        const history = parseHistory(items);
        const customers = items.map(parseCustomerInsight);
        for (const value of [requirements, history, customers]) expect(numbers(value).every(Number.isFinite)).toBe(true);
        for (const r of requirements) expect(r.type.length).toBeGreaterThan(0);
        for (const r of requirements) expect(r.type.length).toBeLessThanOrEqual(256);
      }),
      { numRuns: RUNS },
    );
  });

  it('parseCollection throws only GraphParseError', () => {
    fc.assert(
      fc.property(fc.anything(), (input) => {
        outcome(() => parseCollection(input, 'x'));
      }),
      { numRuns: RUNS },
    );
  });

  it('survives deeply nested JSON: every parser, at every field it reads, from the text Graph could send', () => {
    let deepObject: unknown = 1;
    for (let i = 0; i < 5000; i++) deepObject = { value: deepObject };
    // As the Graph client gets it: JSON.parse of a body nested 100,000 deep.
    const deepArray: unknown = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    for (const deep of [deepObject, deepArray]) {
      expect(outcome(() => parseSecurityScore(deep))).toBeInstanceOf(GraphParseError);
      const fields = { currentScore: deep, maxScore: deep, lastRefreshDateTime: deep, updatedDateTime: deep, id: deep };
      expect(outcome(() => parseSecurityScore({ value: fields }))).toBeInstanceOf(GraphParseError);
      expect(parseSecurityScore({ value: { ...fields, currentScore: 3 } })).toEqual({ currentScore: 3 });
      const page = outcome(() => parseCollection({ value: [deep, { value: deep }], '@odata.nextLink': deep }, 'x'));
      expect(page).not.toBeInstanceOf(GraphParseError);
      const requirement = parseRequirement({
        '@odata.type': '#microsoft.graph.partner.security.adminsMfaEnforcedSecurityRequirement',
        requirementType: 'mfaEnforcedForAdmins',
        complianceStatus: deep,
        state: deep,
        score: deep,
        maxScore: deep,
        updatedDateTime: deep,
        adminsMfaEnforcedCount: deep,
        adminsCount: deep,
        securityDefaultsStatus: deep,
      } as Record<string, unknown>);
      expect(numbers(requirement).every(Number.isFinite)).toBe(true);
      expect(requirement.type).toBe('mfaEnforcedForAdmins');
      expect(parseHistory([{ createdDateTime: deep, score: deep }])).toEqual([]);
      expect(parseCustomerInsight({ tenantId: 'c', mfa: deep } as Record<string, unknown>)).toMatchObject({ tenantId: 'c' });
      expect(parseCustomerInsight({ tenantId: deep } as Record<string, unknown>)).toBeUndefined();
    }
  });
});

describe('config parser under random input', () => {
  const flagNames = [
    'web.listen-address',
    'web.telemetry-path',
    'graph.endpoint',
    'graph.timeout',
    'poll.interval',
    'poll.max-staleness',
    'poll.concurrency',
    'log.level',
    'log.format',
    'demo',
    'collector.history',
    'nope',
  ];
  const arg = fc.oneof(
    fc.tuple(fc.constantFrom(...flagNames), fc.string()).map(([f, v]) => `--${f}=${v}`),
    fc.constantFrom(...flagNames).map((f) => `--${f}`),
    fc.string(),
  );
  const env = fc.dictionary(
    fc.constantFrom('AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_AUTHORITY_HOST', 'PSS_POLL_INTERVAL', 'PSS_DEMO', 'PSS_CONFIG_FILE'),
    fc.string(),
  );
  const io = { readable: () => false, readText: () => '' };

  it('returns a config or a list of problems, never throws, and never yields NaN', () => {
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 6 }), env, (argv, environment) => {
        const result = parseConfig(argv, environment, io);
        if (result.action === 'fail') expect(result.errors.length).toBeGreaterThan(0);
        if ('config' in result) {
          expect(numbers(result.config).every(Number.isFinite)).toBe(true);
          expect(result.config.pollIntervalMs).toBeGreaterThanOrEqual(1000);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('never echoes the client secret in a problem', () => {
    fc.assert(
      fc.property(
        fc.array(arg, { maxLength: 4 }),
        fc.string({ minLength: 12 }).filter((s) => s.trim().length >= 12),
        (argv, secret) => {
          const result = parseConfig(argv, { AZURE_CLIENT_SECRET: secret }, io);
          if (result.action === 'fail') expect(result.errors.join('\n')).not.toContain(secret);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
