// The alert rules. One entry of `rules` below per alert: adding an alert is adding an entry (its
// thresholds and `for:` in config.libsonnet). Every rule gets its runbook_url from
// _config.runbookURLPattern; every series it selects carries _config.partnerSecuritySelector.
local utils = import '../lib/utils.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local line = utils.oneLine,
    // Template fields of the expressions and texts below.
    local f = {
      sel: c.partnerSecuritySelector,
      requirementRegressedWindow: c.requirementRegressedWindow,
      requirementRegressedWindowWords: utils.duration(c.requirementRegressedWindow),
      scoreLowRatio: utils.number(c.scoreLowRatio),
      scoreLowPercent: utils.number(c.scoreLowRatio * 100) + '%',
      dataStaleHours: utils.number(c.dataStaleHours),
      dataStale: utils.hours(c.dataStaleHours),
      alertResponseTargetHours: utils.number(c.alertResponseTargetHours),
      alertOpenHours: utils.number(c.alertOpenHours),
      alertOpen: utils.hours(c.alertOpenHours),
      alertResponseApproachingHours: utils.number(c.alertResponseApproachingHours),
      alertResponseApproaching: utils.hours(c.alertResponseApproachingHours),
      pollFailingFor: utils.duration(c.pollFailingFor),
      exporterDownFor: utils.duration(c.exporterDownFor),
      exporterAbsentFor: utils.duration(c.exporterAbsentFor),
    },

    local rules = [
      // --- The CSP authorization, the score and its requirements (what Microsoft says) ---
      {
        alert: 'PartnerSecurityAuthorizationAtRisk',
        // The one signal: a requirement mandatory for this partner (by its partner type) is not
        // compliant. Absent, so silent, while the exporter cannot tell (requirements not read, stale,
        // or a mandatory one missing from Graph's answer). The description lists every failing
        // mandatory requirement with its Partner Center page, and the time left to the validation.
        expr: 'partner_security_authorization_at_risk{%(sel)s} == 1' % f,
        'for': c.authorizationAtRiskFor,
        labels: { severity: 'critical' },
        annotations: {
          summary: 'The CSP authorization of partner tenant {{ $labels.tenant_id }} is at risk: a mandatory security requirement is not met',
          description: line(|||
            Microsoft validates the security requirements of partner tenant {{ $labels.tenant_id }} every
            year, and its CSP authorization depends on the mandatory ones. Not met now:{{ range sortByLabel "requirement_type" (query (printf `max by (requirement_type, action_url) ((partner_security_requirement_compliant{%(sel)s, tenant_id=%%q} == 0 and partner_security_requirement_mandatory{%(sel)s, tenant_id=%%q} == 1) * ignoring (state, action_url, help_url) group_left (action_url, help_url) partner_security_requirement_info{%(sel)s, tenant_id=%%q})` $labels.tenant_id $labels.tenant_id $labels.tenant_id)) }} {{ .Labels.requirement_type }} ({{ .Labels.action_url }});{{ end }}
            {{ with query (printf `partner_security_next_validation_timestamp_seconds{%(sel)s, tenant_id=%%q} - time()` $labels.tenant_id) }}{{ $left := . | first | value }}{{ if gt $left 0.0 }}the next validation is in {{ humanizeDuration $left }}.{{ else }}the validation month is under way.{{ end }}{{ else }}the validation month is not configured (validation_month, --partner.validation-month).{{ end }}
          ||| % f),
          runbook: line(|||
            Open the Partner Center page of each requirement named above and meet it before the
            validation; the exporter's status page opens with the same list. The alert resolves once
            Microsoft refreshes the data and reports every mandatory requirement as compliant.
          |||),
        },
      },
      {
        alert: 'PartnerSecurityScoreLow',
        // A ratio, so the rule holds if Microsoft changes maxScore (100 today): 0.7 = 70 of 100.
        expr: 'partner_security_score_current{%(sel)s} / partner_security_score_max{%(sel)s} < %(scoreLowRatio)s' % f,
        'for': c.scoreLowFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'Partner security score of {{ $labels.tenant_id }} is below %(scoreLowPercent)s of the maximum' % f,
          description: line(|||
            The partner security score of tenant {{ $labels.tenant_id }} is {{ $value | humanizePercentage }}
            of the maximum (threshold %(scoreLowPercent)s). Every requirement that is not met costs points.
          ||| % f),
          runbook: line(|||
            Open the "Partner security score overview" dashboard (or Partner Center, Security requirements)
            and work through the non-compliant requirements in the table; each row links to its action
            page. The score moves when Microsoft next refreshes the data (usually within a day).
          |||),
        },
      },
      {
        alert: 'PartnerSecurityScoreDropped',
        // Points lost against the same moment yesterday; stays firing for a day unless the score recovers.
        expr: '(partner_security_score_current{%(sel)s} offset 1d) - partner_security_score_current{%(sel)s} > 0' % f,
        'for': c.scoreDroppedFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'Partner security score of {{ $labels.tenant_id }} dropped by {{ $value }} points in 24 hours',
          description: line(|||
            The partner security score of tenant {{ $labels.tenant_id }} is {{ $value }} points lower than
            24 hours ago: a requirement that was met is not met any more.
          |||),
          runbook: line(|||
            Compare the requirements table of the "Partner security score overview" dashboard with
            yesterday (time picker) to find the requirement that lost its points, then fix it in Partner
            Center. Typical causes: a new admin without MFA, an MFA policy switched off, unresolved
            security alerts.
          |||),
        },
      },
      {
        alert: 'PartnerSecurityMandatoryRequirementNonCompliant',
        // One alert per mandatory requirement not met, labelled with its Partner Center page. Which
        // are mandatory is the exporter's to say (by the tenant's partner type; preview ones never
        // are), so a requirement Graph sends twice (requirement_type "<type>:<id>") is one too.
        // The join adds action_url and help_url for the runbook.
        expr: line(|||
          (partner_security_requirement_compliant{%(sel)s} == 0
          and partner_security_requirement_mandatory{%(sel)s} == 1)
          * ignoring (state, action_url, help_url) group_left (action_url, help_url)
          partner_security_requirement_info{%(sel)s}
        ||| % f),
        'for': c.mandatoryRequirementFor,
        labels: { severity: 'critical' },
        annotations: {
          summary: 'Mandatory security requirement {{ $labels.requirement_type }} is not met by {{ $labels.tenant_id }}',
          description: line(|||
            Microsoft Graph reports the mandatory security requirement {{ $labels.requirement_type }}
            of partner tenant {{ $labels.tenant_id }} as non-compliant. Since October 2025 the CSP
            partner's authorization depends on the mandatory requirements.
          |||),
          runbook: line(|||
            Open {{ $labels.action_url }} (Partner Center) and follow the requirement's steps;
            background: {{ $labels.help_url }}. The alert resolves once Microsoft refreshes the data
            and reports the requirement as compliant.
          |||),
        },
      },
      {
        alert: 'PartnerSecurityRequirementRegressed',
        // Any requirement, recommended ones too, that was compliant within the window and is not now:
        // the moment to ask what changed (a new admin without MFA, a customer added without a budget).
        expr: line(|||
          (partner_security_requirement_compliant{%(sel)s} == 0
          and max_over_time(partner_security_requirement_compliant{%(sel)s}[%(requirementRegressedWindow)s]) == 1)
          * ignoring (state, action_url, help_url) group_left (action_url, help_url)
          partner_security_requirement_info{%(sel)s}
        ||| % f),
        'for': c.requirementRegressedFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'Security requirement {{ $labels.requirement_type }} of {{ $labels.tenant_id }} was met and is not any more',
          description: line(|||
            Microsoft Graph reported the
            {{ with query (printf `partner_security_requirement_mandatory{%(sel)s, tenant_id=%%q, requirement_type=%%q} == 1` $labels.tenant_id $labels.requirement_type) }}mandatory{{ else }}recommended{{ end }}
            security requirement {{ $labels.requirement_type }} of partner tenant {{ $labels.tenant_id }} as
            compliant within the last %(requirementRegressedWindowWords)s, and as not compliant now. Partner Center: {{ $labels.action_url }}
          ||| % f),
          runbook: line(|||
            Open {{ $labels.action_url }} (Partner Center) and find what changed: a new admin without
            MFA, a policy switched off, a new customer without admin MFA or a spending budget, slow
            alert responses. The alert stays for the window unless the requirement is met again.
          |||),
        },
      },
      {
        alert: 'PartnerSecurityScoreDataStale',
        expr: 'time() - partner_security_score_last_refresh_timestamp{%(sel)s} > %(dataStaleHours)s * 3600' % f,
        'for': c.dataStaleFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'Microsoft has not refreshed the partner security data of {{ $labels.tenant_id }} for {{ $value | humanizeDuration }}',
          description: line(|||
            lastRefreshDateTime of tenant {{ $labels.tenant_id }} is {{ $value | humanizeDuration }} old
            (threshold %(dataStale)s): the score and requirements shown may not reflect recent changes.
          ||| % f),
          runbook: line(|||
            This is Microsoft's side, not the exporter's (which still polls successfully). Check Partner
            Center, Security requirements, for a notice; if it persists, open a Partner Center support
            request.
          |||),
        },
      },
      {
        alert: 'PartnerSecurityAlertResponseSlow',
        expr: 'partner_security_alert_response_time_average_seconds{%(sel)s} > %(alertResponseTargetHours)s * 3600' % f,
        'for': c.alertResponseSlowFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'Security alerts of {{ $labels.tenant_id }} take {{ $value | humanizeDuration }} on average to resolve',
          description: line(|||
            The 30-day average response time to security alerts of tenant {{ $labels.tenant_id }} is
            {{ $value | humanizeDuration }}
          |||) + (
            // The requirement's 24 hours, or the partner's own target beside it.
            if c.alertResponseTargetHours == 24 then '; the securityAlertsPromptlyResolved requirement asks for less than 24 hours.'
            else ', over the target of %s (the securityAlertsPromptlyResolved requirement asks for less than 24 hours).'
                 % utils.hours(c.alertResponseTargetHours)
          ),
          runbook: line(|||
            Resolve the open security alerts (Partner Center, Security alerts) and make sure someone is
            notified of new ones; the average improves as faster responses enter the 30-day window.
          |||),
        },
      },

      // --- The security alerts themselves (ahead of Microsoft's 30-day average) ---
      {
        alert: 'PartnerSecurityAlertOpenTooLong',
        // The oldest open alert of each severity, test alerts excluded by the exporter. 20 hours
        // leaves 4 to resolve it before it counts more than 24 hours against the average. The
        // alert's own severity stays as alert_severity; high pages as critical, the rest as warning.
        expr: 'time() - partner_security_alerts_oldest_open_detected_timestamp_seconds{%(sel)s} > %(alertOpenHours)s * 3600' % f,
        'for': c.alertOpenFor,
        labels: {
          severity: '{{ if eq $labels.severity "high" }}critical{{ else }}warning{{ end }}',
          alert_severity: '{{ $labels.severity }}',
        },
        annotations: {
          summary: 'A {{ $labels.severity }} security alert of {{ $labels.tenant_id }} has been open for {{ $value | humanizeDuration }}',
          description: line(|||
            The oldest open {{ $labels.severity }} partner security alert of tenant {{ $labels.tenant_id }}
            was detected {{ $value | humanizeDuration }} ago (threshold %(alertOpen)s). Alerts open longer than
            24 hours drag the 30-day average of securityAlertsPromptlyResolved, a mandatory requirement,
            over its limit.
          ||| % f),
          runbook: line(|||
            Open Partner Center, Security alerts (or the "Open security alerts" section of the exporter's
            status page) and resolve the oldest alert: investigate it with the customer, then mark it
            resolved with a reason. Test alerts never fire this rule.
          |||),
        },
      },
      {
        alert: 'PartnerSecurityAlertResponseApproachingLimit',
        // The exporter's own 30-day average from the alerts, which moves at once, unlike Graph's
        // averageResponseTimeInHours (PartnerSecurityAlertResponseSlow) which waits for Microsoft's refresh.
        expr: 'partner_security_alerts_response_time_30d_average_seconds{%(sel)s} > %(alertResponseApproachingHours)s * 3600' % f,
        'for': c.alertResponseApproachingFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'Security alerts of {{ $labels.tenant_id }} took {{ $value | humanizeDuration }} on average to resolve over 30 days',
          description: line(|||
            The exporter's own 30-day average response time to the security alerts of tenant
            {{ $labels.tenant_id }} is {{ $value | humanizeDuration }} (threshold %(alertResponseApproaching)s); the mandatory
            requirement securityAlertsPromptlyResolved allows 24 hours.
          ||| % f),
          runbook: line(|||
            Resolve the open security alerts first (every hour they stay open counts), then look at how
            new alerts reach someone: a notification in Partner Center, a mailbox someone watches, this
            exporter's PartnerSecurityAlertOpenTooLong.
          |||),
        },
      },

      // --- The exporter (is the picture above current?) ---
      {
        alert: 'PartnerSecurityExporterPollFailing',
        // A poller is a batch job: alert when it has not succeeded for two poll intervals (2 x 10m).
        // A failing exporter retries sooner (backoff), so partner_security_up stays 0 until a poll
        // succeeds; one success resets the wait, so an exporter that fails only now and then is quiet.
        expr: 'partner_security_up{%(sel)s} == 0' % f,
        'for': c.pollFailingFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'The exporter cannot read the partner security score of {{ $labels.tenant_id }} from Microsoft Graph',
          description: line(|||
            Every poll of Microsoft Graph for tenant {{ $labels.tenant_id }} by {{ $labels.instance }}
            has failed for at least %(pollFailingFor)s. The cached score is dropped after --poll.max-staleness
            (3 hours by default), and the score alerts go quiet with it.
          ||| % f),
          runbook: line(|||
            Read the exporter's "poll failed" log line: reason, HTTP status, Graph error code and
            request_id. unauthorized (401): the client secret or certificate expired or is wrong.
            forbidden (403): PartnerSecurity.Read.All with admin consent is missing. not_found (404):
            not a partner tenant, or not the global cloud. throttled/unavailable/timeout/network:
            Microsoft or the network; the exporter backs off and retries by itself. The "Partner
            security exporter health" dashboard shows failures by reason.
          |||),
        },
      },
      {
        alert: 'PartnerSecurityExporterDown',
        expr: 'up{%(sel)s} == 0' % f,
        'for': c.exporterDownFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'Prometheus cannot scrape the partner security exporter {{ $labels.instance }}',
          description: line(|||
            Scrapes of {{ $labels.instance }} (job {{ $labels.job }}) have failed for %(exporterDownFor)s: the
            exporter is not running or not reachable, and no score reaches Prometheus.
          ||| % f),
          runbook: line(|||
            Check the exporter process or container (docker compose ps, systemctl status, kubectl get
            pods) and its log; it exits with code 1 when it cannot listen and 2 on bad flags. Then
            check that Prometheus can reach its port (10059 by default) and /metrics path.
          |||),
        },
      },
      {
        alert: 'PartnerSecurityExporterAbsent',
        expr: 'absent(up{%(sel)s})' % f,
        'for': c.exporterAbsentFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'No partner security exporter is configured for scraping',
          description: line(|||
            Prometheus has had no target matching {%(sel)s} for %(exporterAbsentFor)s: the scrape
            configuration or service discovery lost the exporter, so nothing watches the score.
          ||| % f),
          runbook: line(|||
            Check the scrape_configs of Prometheus (Status, Targets) and its service discovery; the
            exporter's targets must match {%(sel)s}. If yours are labelled otherwise, render the rules
            with your selector (partnerSecuritySelector of the monitoring mixin).
          ||| % f),
        },
      },
    ],

    groups+: [
      {
        name: 'partner-security-score',
        rules: [utils.withRunbookURL(c.runbookURLPattern, rule) for rule in rules],
      },
    ],
  },
}
