/** Why a call to Graph failed: the one error every Graph call throws. */
import { boundText } from '../lib/text.js';
import type { FailureReason } from '../snapshot.js';

/** Longest error message, hints included: it reaches the log, the status page and /api/status. */
export const MAX_ERROR_MESSAGE_CHARS = 1024;
/** Longest request-id, client-request-id or error code kept from an answer (real ones are GUIDs and short words). */
export const MAX_ID_CHARS = 128;

/** Why one Graph call failed, with what Microsoft support asks for (request-id, client-request-id). */
export class GraphError extends Error {
  override name = 'GraphError';
  readonly reason: FailureReason;
  readonly status?: number;
  readonly code?: string;
  readonly requestId?: string;
  readonly clientRequestId?: string;
  readonly retryAfterMs?: number;

  constructor(
    reason: FailureReason,
    message: string,
    details: { status?: number; code?: string; requestId?: string; clientRequestId?: string; retryAfterMs?: number } = {},
  ) {
    // Everything here may come from Graph or Entra ID: bounded and visible before anyone shows it.
    super(boundText(message, MAX_ERROR_MESSAGE_CHARS));
    this.reason = reason;
    if (details.status !== undefined) this.status = details.status;
    if (details.code !== undefined) this.code = boundText(details.code, MAX_ID_CHARS);
    if (details.requestId !== undefined) this.requestId = boundText(details.requestId, MAX_ID_CHARS);
    if (details.clientRequestId !== undefined) this.clientRequestId = boundText(details.clientRequestId, MAX_ID_CHARS);
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
  }

  /** Worth retrying sooner than the next interval (throttling, outages, network trouble). */
  get transient(): boolean {
    return ['throttled', 'unavailable', 'network', 'timeout'].includes(this.reason);
  }
}
