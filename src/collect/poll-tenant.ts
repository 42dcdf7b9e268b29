/** One poll of one tenant: the score, $expand and its fallback, then the relations (src/collect/relations.ts). */

import { DEFAULT_MAX_BYTES } from '../config/caps.js';
import type { CollectorsConfig } from '../config/parse.js';
import type { BodyReader, GraphClient, GraphResponse } from '../graph/client.js';
import { GraphError } from '../graph/errors.js';
import type { PageLimits } from '../graph/paging.js';
import { GraphParseError, parseSecurityScore, scoreEntity } from '../graph/parse.js';
import { errorText } from '../lib/errors.js';
import type { LogFields, Logger } from '../lib/log.js';
import type { Relation, SecurityScore } from '../snapshot.js';
import { expandableRelations, type RelationsRead, readRelations, SECURITY_SCORE_PATH } from './relations.js';

/** What one successful poll read: the score and how the relations fared. */
export interface PollData extends RelationsRead {
  readonly score: SecurityScore;
}

/** The result of one poll: data or an error, and the HTTP status of every Graph request made. */
export type PollResult =
  | { readonly ok: true; readonly data: PollData; readonly requests: readonly string[]; readonly tenantId?: string }
  | { readonly ok: false; readonly error: GraphError; readonly requests: readonly string[]; readonly tenantId?: string };

/** A function the poller calls once per poll. It never rejects. */
export type PollOnce = (signal: AbortSignal) => Promise<PollResult>;

// Graph answers a refused $expand with 400 (or 501); a relation that is missing for the tenant
// can turn the expanded call into a 404 while the plain score still answers.
const EXPANSION_REFUSED = new Set([400, 404, 501]);

export interface TenantPollOptions {
  graph: GraphClient;
  collectors: CollectorsConfig;
  tenantOfToken: () => string | undefined;
  logger: Logger;
  /** The clock alert dates are checked against (Unix ms). */
  now?: () => number;
}

/** Creates the poll of one tenant's score and relations through one Graph client. */
export function createTenantPoll(options: TenantPollOptions): PollOnce {
  const { graph, collectors } = options;
  const limits: PageLimits = { maxPages: collectors.maxPages, maxBytes: collectors.maxBytes ?? DEFAULT_MAX_BYTES };
  const now = options.now ?? Date.now;
  let expansionRefused = false;
  // What this tenant's Graph refused or sent oddly: said once, remembered for the process's life.
  const selectRefused = new Set<Relation>();
  const said = new Set<string>();
  const noteOnce = (key: string, msg: string, fields: LogFields) => {
    if (said.has(key)) return;
    said.add(key);
    options.logger.warn(msg, fields);
  };

  return async (signal) => {
    const requests: string[] = [];
    // A failed poll still names the tenant when a token did (managed identity before its first success).
    const failed = (error: GraphError): PollResult => {
      const tenantId = options.tenantOfToken();
      return { ok: false, error, requests, ...(tenantId === undefined ? {} : { tenantId }) };
    };
    const get = async (path: string, relation?: Relation, reader?: BodyReader): Promise<GraphResponse> => {
      // Past the poll's deadline (or once stopping) nothing more is asked of Graph.
      if (signal.aborted) throw abortedBy(signal);
      try {
        const response = await graph.get(path, signal, relation, reader);
        requests.push(String(response.status));
        return response;
      } catch (error) {
        const graphError = error instanceof GraphError ? error : new GraphError('network', errorText(error));
        // A token failure never reached Graph, so it is no Graph request.
        if (graphError.reason !== 'token') requests.push(graphError.status === undefined ? 'none' : String(graphError.status));
        // Cut short by the deadline: the deadline is the reason, whatever the request said.
        throw signal.aborted ? abortedBy(signal, graphError.clientRequestId) : graphError;
      }
    };

    const expand = expandableRelations(collectors);
    let response: GraphResponse | undefined;
    let expanded = false;
    try {
      if (expand.length > 0 && !expansionRefused) {
        try {
          response = await get(`${SECURITY_SCORE_PATH}?$expand=${expand.join(',')}`);
          expanded = true;
        } catch (error) {
          if (!(error instanceof GraphError && error.status !== undefined && EXPANSION_REFUSED.has(error.status))) throw error;
          expansionRefused = true;
          options.logger.warn('Graph refused $expand; reading the relations separately from now on', {
            status: error.status,
            code: error.code,
            request_id: error.requestId,
          });
        }
      }
      response ??= await get(SECURITY_SCORE_PATH);
    } catch (error) {
      return failed(error as GraphError);
    }

    let score: SecurityScore;
    try {
      score = parseSecurityScore(response.body);
    } catch (error) {
      const message = error instanceof GraphParseError ? error.message : errorText(error);
      const ids = {
        status: response.status,
        clientRequestId: response.clientRequestId,
        ...(response.requestId === undefined ? {} : { requestId: response.requestId }),
      };
      return failed(new GraphError('invalid_response', `cannot read the answer from Graph: ${message}`, ids));
    }

    const read = await readRelations({
      get,
      collectors,
      limits,
      nowMs: now(),
      selectRefused,
      noteOnce,
      ...(expanded ? { expanded: scoreEntity(response.body) } : {}),
    });
    const data: PollData = Object.freeze({ score, ...read });
    const tenantId = options.tenantOfToken();
    return tenantId === undefined ? { ok: true, data, requests } : { ok: true, data, requests, tenantId };
  };
}

/** Why the poll's signal was aborted, as the error of a request it cut short (the poller aborts with a GraphError). */
function abortedBy(signal: AbortSignal, clientRequestId?: string): GraphError {
  const reason: unknown = signal.reason;
  const ids = clientRequestId === undefined ? {} : { clientRequestId };
  return reason instanceof GraphError
    ? new GraphError(reason.reason, reason.message, ids)
    : new GraphError('network', `the poll was stopped: ${errorText(reason)}`, ids);
}
