/** The default caps on what one poll reads and keeps per tenant: the flags' defaults and the collectors'. */

/** Pages read of one relation in one poll (--collector.max-pages); the expanded score counts as one. */
export const DEFAULT_MAX_PAGES = 50;
/**
 * JSON bytes read of one relation's pages in one poll (--collector.max-bytes): each answer is
 * capped at 10 MiB, but fifty of them would be half a gigabyte of text and far more as objects.
 */
export const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;
/** Requirements kept per tenant (--collector.requirements.max-requirements): Microsoft has five types. */
export const DEFAULT_MAX_REQUIREMENTS = 1000;
/** History entries kept per tenant, the newest (--collector.history.max-entries): the history is daily. */
export const DEFAULT_MAX_HISTORY_ENTRIES = 1000;
/**
 * Security alerts kept per tenant (--collector.security-alerts.max-alerts), open ones first: a
 * partner with thousands of customers sees a few alerts a day, and 30 days of them fit many times.
 */
export const DEFAULT_MAX_ALERTS = 10_000;
/**
 * alert_type values labelled per tenant (--collector.security-alerts.max-alert-types); alertType is
 * free text in Graph, Partner Center's reference lists a few dozen, the rest fold into "other".
 */
export const DEFAULT_MAX_ALERT_TYPES = 50;
