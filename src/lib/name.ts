/** The exporter's name: in --version, the User-Agent, log lines, the status page and /api/status. */
export const NAME = 'partner-security-score-exporter';
