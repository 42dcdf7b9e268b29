/** One poll of one tenant: which endpoints to call and what became of them. */
import { errorText, type GraphClient, GraphError, type GraphResponse } from './graph/client.js';
import { GraphParseError, parseSecurityScore } from './graph/parse.js';
import type { SecurityScore } from './snapshot.js';

export const SECURITY_SCORE_PATH = '/beta/security/partner/securityScore';

/** The result of one poll: data or an error, and the HTTP status of every Graph request made. */
export type PollResult =
  | { readonly ok: true; readonly score: SecurityScore; readonly requests: readonly string[]; readonly tenantId?: string }
  | { readonly ok: false; readonly error: GraphError; readonly requests: readonly string[] };

/** A function the poller calls once per poll. It never rejects. */
export type PollOnce = (signal: AbortSignal) => Promise<PollResult>;

/** Creates the poll of the partner security score through one Graph client. */
export function createCollector(graph: GraphClient, tenantOfToken: () => string | undefined): PollOnce {
  return async (signal) => {
    const requests: string[] = [];
    let response: GraphResponse;
    try {
      response = await graph.get(SECURITY_SCORE_PATH, signal);
    } catch (error) {
      const graphError = error instanceof GraphError ? error : new GraphError('network', errorText(error));
      // A token failure never reached Graph, so it is no Graph request.
      if (graphError.reason !== 'token') requests.push(graphError.status === undefined ? 'none' : String(graphError.status));
      return { ok: false, error: graphError, requests };
    }
    requests.push(String(response.status));
    try {
      const score = parseSecurityScore(response.body);
      const tenantId = tenantOfToken();
      return tenantId === undefined ? { ok: true, score, requests } : { ok: true, score, requests, tenantId };
    } catch (error) {
      const message = error instanceof GraphParseError ? error.message : errorText(error);
      const ids = {
        status: response.status,
        clientRequestId: response.clientRequestId,
        ...(response.requestId === undefined ? {} : { requestId: response.requestId }),
      };
      return { ok: false, error: new GraphError('invalid_response', `cannot read the answer from Graph: ${message}`, ids), requests };
    }
  };
}
