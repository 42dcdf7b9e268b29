/**
 * Hostile values in every field Graph and Entra ID send, each close to the 10 MiB body cap (runs of
 * "eyJ", of digits, of "Bearer ", of whitespace: what made the old patterns quadratic), through the
 * real path: the TLS fake cloud, undici, @azure/identity with the exporter's token transport, the
 * Graph client, one tenant's poll and the logger, composed as main composes them. The proof that
 * nothing stalls is causal: no pattern run from src/ is handed more than MAX_SCANNED_CHARS
 * (test/helpers/regex-probe.ts throws at once if one is), and every poll ends with bounded text.
 */
import { describe, expect, it } from 'vitest';
import { createTenantPoll, type PollResult } from '../../src/collect/poll-tenant.js';
import { connect, graphTarget, loadCreateCredential } from '../../src/collect/targets.js';
import { parseConfig } from '../../src/config/parse.js';
import { MAX_ERROR_MESSAGE_CHARS } from '../../src/graph/errors.js';
import { createDispatcher, DEFAULT_MAX_BODY_BYTES, MAX_HEADER_BYTES } from '../../src/graph/http.js';
import { createLogger, createRedactor, MAX_LOG_LINE_BYTES } from '../../src/lib/log.js';
import { MAX_LABEL_CHARS, MAX_SCANNED_CHARS } from '../../src/lib/text.js';
import { CLIENT_ID, CLIENT_SECRET, TENANT_ID } from '../helpers/exporter.js';
import { type FakeCloud, graphErrorBody, startFakeCloud } from '../helpers/fake-cloud.js';
import { probeRegexInputs } from '../helpers/regex-probe.js';

/** Long enough to fill a body to just under the cap, with room for the JSON around it. */
const BODY_VALUE_CHARS = DEFAULT_MAX_BODY_BYTES - 64 * 1024;
/** Long enough to fill the head of an answer to just under its bound. */
const HEADER_VALUE_CHARS = MAX_HEADER_BYTES - 2048;

const UNITS = { eyJ: 'eyJ', digits: '7', bearer: 'Bearer ', whitespace: ' \t \n' } as const;
type Run = keyof typeof UNITS;
/** A run whose JSON form (tabs and newlines escaped) is at most jsonChars long. */
const run = (kind: Run, jsonChars: number) => {
  const unit = UNITS[kind];
  return unit.repeat(Math.floor(jsonChars / (JSON.stringify(unit).length - 2)));
};
/** Header values cannot hold a newline; whitespace there is spaces and tabs. */
const headerRun = (kind: Run) => (kind === 'whitespace' ? `x${' \t'.repeat(HEADER_VALUE_CHARS / 2)}x` : run(kind, HEADER_VALUE_CHARS));

/** One hostile answer and what the poll must end with. */
interface Case {
  readonly name: string;
  readonly arrange: (cloud: FakeCloud) => void;
  readonly expect: (result: PollResult) => void;
}

const failsWith = (reason: string, saying?: string) => (result: PollResult) => {
  expect(result.ok ? 'ok' : result.error.reason).toBe(reason);
  if (saying !== undefined && !result.ok) expect(result.error.message).toContain(saying);
};
const succeeds = (check: (data: Extract<PollResult, { ok: true }>['data']) => void) => (result: PollResult) => {
  if (!result.ok) throw new Error(`the poll failed: ${result.error.message}`);
  check(result.data);
};
const json = (body: unknown) => ({ status: 200, contentType: 'application/json; charset=utf-8', body: JSON.stringify(body) });
const score = (fields: Record<string, unknown>) => ({ value: { currentScore: 14.29, maxScore: 100, ...fields } });

const RUNS = Object.keys(UNITS) as Run[];
const CASES: Case[] = [
  ...RUNS.map(
    (kind): Case => ({
      name: `a Graph error message of ${kind}`,
      arrange: (cloud) => {
        cloud.graphDefault = (r) => ({ status: 403, body: graphErrorBody('Forbidden', run(kind, BODY_VALUE_CHARS), r.requestId, '') });
      },
      expect: failsWith('forbidden'),
    }),
  ),
  {
    name: 'a Graph error code of digits',
    arrange: (cloud) => {
      cloud.graphDefault = (r) => ({ status: 500, body: graphErrorBody(run('digits', BODY_VALUE_CHARS), 'broken', r.requestId, '') });
    },
    expect: failsWith('http_error'),
  },
  {
    name: 'a Graph error request-id of eyJ',
    arrange: (cloud) => {
      cloud.graphDefault = () => ({ status: 503, body: graphErrorBody('ServiceUnavailable', 'down', run('eyJ', BODY_VALUE_CHARS), '') });
    },
    expect: failsWith('unavailable'),
  },
  ...RUNS.map(
    (kind): Case => ({
      name: `currentScore of ${kind} and a letter`,
      arrange: (cloud) => {
        cloud.graphDefault = { body: score({ currentScore: `${run(kind, BODY_VALUE_CHARS)}x` }) };
      },
      expect: failsWith('invalid_response'),
    }),
  ),
  {
    name: 'maxScore, dates, id and @odata.type of digits, eyJ, whitespace and Bearer',
    arrange: (cloud) => {
      const quarter = Math.floor(BODY_VALUE_CHARS / 4);
      cloud.graphDefault = {
        body: score({
          maxScore: run('digits', quarter),
          lastRefreshDateTime: `2024-02-28T${run('digits', quarter)}`,
          updatedDateTime: run('whitespace', quarter),
          '@odata.type': run('bearer', quarter),
        }),
      };
    },
    expect: succeeds((data) => {
      expect(data.score).toEqual({ currentScore: 14.29 });
    }),
  },
  ...RUNS.map(
    (kind): Case => ({
      name: `requirement labels, numbers and dates of ${kind}`,
      arrange: (cloud) => {
        const fifth = Math.floor(BODY_VALUE_CHARS / 5);
        cloud.graphDefault = {
          body: score({
            requirements: [
              {
                requirementType: run(kind, fifth),
                state: run(kind, fifth),
                score: run(kind, fifth),
                updatedDateTime: run(kind, fifth),
                complianceStatus: run(kind, fifth),
              },
            ],
            history: [],
          }),
        };
      },
      expect: succeeds((data) => {
        const requirement = data.relations.requirements?.[0];
        expect([...(requirement?.type ?? '')].length).toBeLessThanOrEqual(MAX_LABEL_CHARS);
        expect(requirement?.score).toBeUndefined();
      }),
    }),
  ),
  ...RUNS.map(
    (kind): Case => ({
      name: `alert status, severity, type and customer of ${kind}`,
      arrange: (cloud) => {
        const quarter = Math.floor(BODY_VALUE_CHARS / 4);
        const alert = {
          id: 'a1',
          status: run(kind, quarter),
          severity: run(kind, quarter),
          alertType: run(kind, quarter),
          customerTenantId: run(kind, quarter),
        };
        cloud.alertsDefault = { body: { value: [alert] } };
      },
      expect: succeeds((data) => {
        const alert = data.relations.securityAlerts?.open[0];
        expect(alert?.count).toBe(1);
        for (const value of [alert?.status, alert?.severity, alert?.alertType]) expect([...(value ?? '')].length).toBeLessThanOrEqual(MAX_LABEL_CHARS);
      }),
    }),
  ),
  {
    name: 'an @odata.nextLink of Bearer',
    arrange: (cloud) => {
      cloud.alertsDefault = { body: { value: [], '@odata.nextLink': run('bearer', BODY_VALUE_CHARS) } };
    },
    expect: succeeds((data) => {
      expect(data.relationStatus.securityAlerts).toBe('failed');
      expect(data.relationErrors.securityAlerts).toContain('nextLink');
    }),
  },
  ...RUNS.flatMap((kind): Case[] =>
    ['request-id', 'retry-after', 'content-type', 'location'].map((name) => ({
      name: `a ${name} header of ${kind} just under the header bound`,
      arrange: (cloud) => {
        cloud.graphDefault = (r) => ({
          status: name === 'content-type' ? 200 : name === 'location' ? 302 : 429,
          headers: { [name]: headerRun(kind) },
          body: graphErrorBody('TooManyRequests', 'slow down', r.requestId, ''),
        });
      },
      expect: failsWith(name === 'content-type' ? 'invalid_response' : name === 'location' ? 'http_error' : 'throttled'),
    })),
  ),
  {
    name: 'a request-id header of eyJ far over the header bound',
    arrange: (cloud) => {
      cloud.graphDefault = { status: 200, headers: { 'request-id': run('eyJ', BODY_VALUE_CHARS) } };
    },
    expect: failsWith('network', `is larger than ${MAX_HEADER_BYTES} bytes`),
  },
  {
    name: 'a token answer header of digits far over the header bound',
    arrange: (cloud) => {
      cloud.tokenAnswer = {
        ...json({ error: 'invalid_client', error_description: 'no' }),
        status: 401,
        headers: { 'x-ms-request-id': run('digits', BODY_VALUE_CHARS) },
      };
    },
    expect: failsWith('token', `is larger than ${MAX_HEADER_BYTES} bytes`),
  },
  {
    name: 'a score nested five million levels deep',
    arrange: (cloud) => {
      const depth = Math.floor(BODY_VALUE_CHARS / 2);
      cloud.graphDefault = { body: `{"value":${'['.repeat(depth)}${']'.repeat(depth)}}` };
    },
    expect: failsWith('invalid_response', 'nested deeper than 64 levels'),
  },
  {
    name: 'an alerts page of three million empty objects',
    arrange: (cloud) => {
      cloud.alertsDefault = { body: `{"value":[${'{},'.repeat(Math.floor(BODY_VALUE_CHARS / 3))}{}]}` };
    },
    expect: succeeds((data) => {
      expect(data.relationStatus.securityAlerts).toBe('failed');
      expect(data.relationErrors.securityAlerts).toContain('more than 200000 objects and arrays');
    }),
  },
  {
    name: 'a Graph error nested five million levels deep',
    arrange: (cloud) => {
      const depth = Math.floor(BODY_VALUE_CHARS / 2);
      cloud.graphDefault = { status: 500, body: `{"error":${'['.repeat(depth)}${']'.repeat(depth)}}` };
    },
    expect: failsWith('http_error'),
  },
  {
    name: 'a token answer nested five million levels deep',
    arrange: (cloud) => {
      const depth = Math.floor(BODY_VALUE_CHARS / 2);
      cloud.tokenAnswer = { status: 200, contentType: 'application/json', body: `{"access_token":${'['.repeat(depth)}${']'.repeat(depth)}}` };
    },
    expect: failsWith('token', 'nested deeper than 64 levels'),
  },
  ...RUNS.map(
    (kind): Case => ({
      name: `a token error and error_description of ${kind}`,
      arrange: (cloud) => {
        const half = Math.floor(BODY_VALUE_CHARS / 2);
        cloud.tokenAnswer = { ...json({ error: run(kind, half), error_description: run(kind, half) }), status: 400 };
      },
      expect: failsWith('token'),
    }),
  ),
  {
    name: 'an access token of eyJ',
    arrange: (cloud) => {
      cloud.tokenAnswer = json({ token_type: 'Bearer', expires_in: 3600, access_token: run('eyJ', BODY_VALUE_CHARS) });
    },
    expect: failsWith('token'),
  },
  {
    name: 'a token expires_in of digits',
    arrange: (cloud) => {
      cloud.tokenAnswer = json({ token_type: 'Bearer', expires_in: run('digits', BODY_VALUE_CHARS), access_token: 'a-token-of-no-shape-at-all' });
    },
    expect: (result) => {
      // MSAL may take or refuse such an expiry: either way the poll ends, and the text is bounded.
      expect(['ok', 'token']).toContain(result.ok ? 'ok' : result.error.reason);
    },
  },
  ...RUNS.map(
    (kind): Case => ({
      name: `token answer headers of ${kind}`,
      arrange: (cloud) => {
        cloud.tokenAnswer = {
          ...json({ error: 'temporarily_unavailable', error_description: 'AADSTS50196: slow down' }),
          status: 429,
          headers: { 'retry-after': headerRun(kind) },
        };
      },
      expect: failsWith('token'),
    }),
  ),
];

describe('hostile values in every field Graph and Entra ID send', { timeout: 120_000 }, () => {
  it.for(CASES)('$name: no pattern sees more than MAX_SCANNED_CHARS, the poll ends, its text is bounded', async (testCase, { onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    testCase.arrange(cloud);
    const env = { AZURE_TENANT_ID: TENANT_ID, AZURE_CLIENT_ID: CLIENT_ID, AZURE_CLIENT_SECRET: CLIENT_SECRET, AZURE_AUTHORITY_HOST: cloud.url };
    const parsed = parseConfig([`--graph.endpoint=${cloud.url}`, '--graph.timeout=60s'], env);
    if (parsed.action !== 'run') throw new Error(`bad test config: ${JSON.stringify(parsed)}`);
    const { config } = parsed;
    const tenant = config.tenants[0];
    if (tenant === undefined) throw new Error('no tenant');
    const dispatcher = createDispatcher();
    onTestFinished(() => dispatcher.close());
    const redact = createRedactor([CLIENT_SECRET]);
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', format: 'json', redact, write: (line) => lines.push(line) });
    const target = graphTarget(config, tenant, await loadCreateCredential(), { dispatcher, env });
    const client = connect(config, target, 'test', redact, dispatcher);
    const poll = createTenantPoll({ graph: client.graph, collectors: config.collectors, tenantOfToken: () => client.tokens.lastTenantId(), logger });

    const probe = probeRegexInputs(MAX_SCANNED_CHARS);
    let result: PollResult;
    try {
      result = await poll(new AbortController().signal);
      if (!result.ok) logger.warn('poll failed', { reason: result.error.reason, err: result.error.message });
    } finally {
      probe.restore();
    }
    expect(probe.violations).toEqual([]);
    testCase.expect(result);
    if (!result.ok) expect([...result.error.message].length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    for (const line of lines) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
    expect(lines.join('')).not.toContain(CLIENT_SECRET);
  });
});
