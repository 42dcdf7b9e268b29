// Everything a user of the mixin may change, with the defaults the project ships: the rendering with
// these defaults is deploy/prometheus/alerts.yml and grafana/dashboards/*.json (a test keeps them equal).
// Override in your own jsonnet: (import 'mixin.libsonnet') + { _config+:: { alertResponseTargetHours: 1 } }.
{
  _config+:: {
    // The label selector every query of the alerts and dashboards uses: the exporter's scrape job
    // (job_name in deploy/prometheus/prometheus.yml; the ServiceMonitors relabel their job to it).
    partnerSecuritySelector: 'job="partner-security-score"',

    // Each alert's runbook_url: %s is the alert name in lower case, the anchor GitHub gives its
    // heading (#### `PartnerSecurityScoreLow`) in docs/alerts.md.
    runbookURLPattern: 'https://github.com/partner-security-score-exporter/partner-security-score-exporter/blob/main/docs/alerts.md#%s',

    // Thresholds, and how long each condition must hold (`for:`) before its alert fires.
    // PartnerSecurityScoreLow: the score below this share of the maximum (0.7 = 70 of 100).
    scoreLowRatio: 0.7,
    scoreLowFor: '30m',
    // PartnerSecurityScoreDropped: fewer points than 24 hours earlier.
    scoreDroppedFor: '30m',
    // PartnerSecurityMandatoryRequirementNonCompliant. Which requirements are mandatory is the
    // exporter's to say (partner_security_requirement_mandatory, by each tenant's partner type).
    mandatoryRequirementFor: '30m',
    // PartnerSecurityAuthorizationAtRisk: partner_security_authorization_at_risk is 1.
    authorizationAtRiskFor: '30m',
    // PartnerSecurityRequirementRegressed: a requirement not compliant that was compliant within
    // this window (the alert stays for the window unless the requirement recovers).
    requirementRegressedWindow: '1d',
    requirementRegressedFor: '30m',
    // PartnerSecurityScoreDataStale: Microsoft has not refreshed the data for this many hours.
    dataStaleHours: 48,
    dataStaleFor: '30m',
    // PartnerSecurityAlertResponseSlow: Graph's 30-day average response time to security alerts over
    // this many hours. The securityAlertsPromptlyResolved requirement allows 24; Microsoft recommends
    // responding within 1.
    alertResponseTargetHours: 24,
    alertResponseSlowFor: '30m',
    // PartnerSecurityAlertOpenTooLong: an open security alert detected more than this many hours ago
    // (20 leaves 4 to resolve it before it counts over the 24-hour requirement).
    alertOpenHours: 20,
    alertOpenFor: '5m',
    // PartnerSecurityAlertResponseApproachingLimit: the exporter's own 30-day average over this many hours.
    alertResponseApproachingHours: 20,
    alertResponseApproachingFor: '30m',
    // PartnerSecurityExporterPollFailing: no successful poll for two poll intervals (--poll.interval=10m).
    pollFailingFor: '20m',
    // PartnerSecurityExporterDown and PartnerSecurityExporterAbsent.
    exporterDownFor: '10m',
    exporterAbsentFor: '10m',

    // Dashboards: the uid of each is this prefix and its name (overview, exporter-health).
    dashboardUIDPrefix: 'partner-security-',
    // The tags every dashboard carries; the dashboards link to each other through them.
    dashboardTags: ['partner-security'],
    // How often each dashboard refreshes, by its name.
    dashboardRefresh: { overview: '5m', 'exporter-health': '1m' },
  },
}
