/** The "Partner security score overview" dashboard: the score, the requirements behind it and what Graph says about MFA. */
import { PanelBuilder as BarGauge } from '@grafana/grafana-foundation-sdk/bargauge';
import {
  BarGaugeDisplayMode,
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
  LineInterpolation,
  TableCellDisplayMode,
  VizOrientation,
} from '@grafana/grafana-foundation-sdk/common';
import {
  type Dashboard,
  DashboardBuilder,
  DashboardCursorSync,
  FieldColorBuilder,
  FieldColorModeId,
  MappingType,
  RowBuilder,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as Gauge } from '@grafana/grafana-foundation-sdk/gauge';
import { PanelBuilder as Table } from '@grafana/grafana-foundation-sdk/table';
import {
  builtInAnnotation,
  dashboardsLink,
  datasource,
  datasourceVariable,
  finish,
  grafanaVariable,
  lastValue,
  neutral,
  query,
  stat,
  steps,
  TENANTS,
  THRESHOLDS,
  tenantVariable,
  timeSeries,
  yesNo,
} from './common.js';

/** Name of the overview dashboard: its uid after the mixin's dashboardUIDPrefix (stable: bookmarks and links use the uid). */
export const OVERVIEW_NAME = 'overview';

/** The alert threshold as a score, for a maximum of 100 (Graph's maxScore today). */
const MAX_SCORE = 100;
const SCORE_THRESHOLD = THRESHOLDS.scoreRatio * MAX_SCORE;
/** Anyone required to use MFA who does not is a problem: red from 1. */
const NOT_USING_MFA_IN_RED = [
  { id: 'thresholds', value: steps('green', [1, 'red']).build() },
  { id: 'color', value: { mode: FieldColorModeId.Thresholds } },
];

/** Builds the overview dashboard. */
export function overviewDashboard(): Dashboard {
  const builder = new DashboardBuilder('Partner security score overview')
    .uid(OVERVIEW_NAME)
    .description(
      'The Microsoft Partner Center partner security score, its requirements and MFA posture, as read from Microsoft Graph by partner-security-score-exporter.',
    )
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .time({ from: 'now-7d', to: 'now' })
    .timezone('browser')
    .withVariable(datasourceVariable())
    .withVariable(tenantVariable())
    .annotation(builtInAnnotation())
    .link(dashboardsLink())

    // First, as on the status page: is the CSP authorization at risk, why, and when is the next validation.
    .withRow(new RowBuilder('CSP authorization'))
    .withPanel(
      stat(
        'CSP authorization',
        "At risk: a requirement mandatory for the partner (by its partner type) is not compliant, so its CSP authorization is at risk at the next validation (PartnerSecurityAuthorizationAtRisk). Not at risk: every mandatory requirement is reported and compliant. Unknown: the exporter cannot tell (requirements not read or stale, a mandatory requirement missing from Graph's answer or without a status); the exporter's status page says why.",
      )
        // A tenant the exporter reports on without a signal is "unknown" (-1), never left out.
        .withTarget(query(`partner_security_authorization_at_risk{${TENANTS}} or on (tenant_id) (-1 * group by (tenant_id) (partner_security_up{${TENANTS}}))`))
        .mappings([
          {
            type: MappingType.ValueToText,
            options: {
              '1': { text: 'At risk', color: 'red', index: 0 },
              '0': { text: 'Not at risk', color: 'green', index: 1 },
              '-1': { text: 'Unknown', color: 'orange', index: 2 },
            },
          },
        ])
        .noValue('Unknown')
        .height(6)
        .span(6),
    )
    .withPanel(mandatoryRequirementsTable())
    .withPanel(
      stat(
        'Next validation',
        'Microsoft validates the requirements every year in the anniversary month of the onboarding: the start of that month (validation_month in the tenants file, --partner.validation-month). No value: not configured.',
      )
        .withTarget(query(`partner_security_next_validation_timestamp_seconds{${TENANTS}} * 1000`))
        .unit('dateTimeFromNow')
        .colorScheme(neutral())
        .noValue('not configured')
        .height(6)
        .span(6),
    )

    .withRow(new RowBuilder('Score'))
    .withPanel(
      new Gauge()
        .title('Partner security score')
        .description(`currentScore from Graph. Red below ${SCORE_THRESHOLD} (the PartnerSecurityScoreLow alert), amber until every requirement is met.`)
        .datasource(datasource)
        .withTarget(query(`partner_security_score_current{${TENANTS}}`))
        .reduceOptions(lastValue())
        .min(0)
        .max(MAX_SCORE)
        .thresholds(steps('red', [SCORE_THRESHOLD, 'orange'], [MAX_SCORE, 'green']))
        .height(6)
        .span(6),
    )
    .withPanel(
      stat('Maximum score', 'maxScore from Graph: the highest score attainable (100 today).')
        .withTarget(query(`partner_security_score_max{${TENANTS}}`))
        .colorScheme(neutral())
        .height(6)
        .span(3),
    )
    .withPanel(
      stat(
        'Mandatory requirements not met',
        'Requirements mandatory for the partner (partner admin MFA, security contact, and alert response but for an indirect reseller) that Graph reports as non-compliant; the PartnerSecurityMandatoryRequirementNonCompliant alert fires for each. No value while the exporter cannot tell.',
      )
        .withTarget(query(`partner_security_mandatory_requirements_noncompliant{${TENANTS}}`))
        .thresholds(steps('green', [1, 'red']))
        .height(6)
        .span(4),
    )
    .withPanel(
      stat('Requirements compliant', 'Requirements Graph reports as compliant, of all requirements it evaluated (active and preview).')
        .withTarget(query(`sum by (tenant_id) (partner_security_requirement_compliant{${TENANTS}})`, '{{tenant_id}} compliant'))
        .withTarget(query(`count by (tenant_id) (partner_security_requirement_compliant{${TENANTS}})`, '{{tenant_id}} evaluated'))
        .colorScheme(neutral())
        .height(6)
        .span(4),
    )
    .withPanel(
      stat(
        'Time since Graph refreshed the data',
        `Age of lastRefreshDateTime: when Microsoft last checked the partner's security data. The PartnerSecurityScoreDataStale alert fires after ${THRESHOLDS.dataAgeSeconds / 3600} h.`,
      )
        .withTarget(query(`time() - partner_security_score_last_refresh_timestamp{${TENANTS}}`))
        .unit('s')
        .decimals(0)
        .thresholds(steps('green', [THRESHOLDS.dataAgeSeconds / 2, 'orange'], [THRESHOLDS.dataAgeSeconds, 'red']))
        .height(6)
        .span(4),
    )
    .withPanel(
      stat('Score data last changed', 'updatedDateTime from Graph: when the score or its data last changed.')
        .withTarget(query(`partner_security_score_updated_timestamp{${TENANTS}} * 1000`))
        .unit('dateTimeFromNow')
        .colorScheme(neutral())
        .height(6)
        .span(3),
    )

    .withRow(new RowBuilder('Score over time'))
    .withPanel(
      timeSeries('Score', `The score and the maximum; the dashed line is the alert threshold (${THRESHOLDS.scoreRatio * 100}% of the maximum).`)
        .withTarget(query(`partner_security_score_current{${TENANTS}}`, '{{tenant_id}} score'))
        .withTarget(query(`partner_security_score_max{${TENANTS}}`, '{{tenant_id}} maximum'))
        .min(0)
        .lineInterpolation(LineInterpolation.StepAfter)
        .thresholds(steps('transparent', [SCORE_THRESHOLD, 'red']))
        .thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed))
        .overrideByRegexp('/maximum$/', [
          { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
          { id: 'custom.fillOpacity', value: 0 },
          { id: 'color', value: { mode: FieldColorModeId.Fixed, fixedColor: 'text' } },
        ])
        .height(8)
        .span(16),
    )
    .withPanel(
      timeSeries(
        'Compliant requirements (Graph history)',
        'The latest entry of the score history Graph keeps; `backfill` loads the months before the exporter ran.',
      )
        .withTarget(query(`partner_security_history_compliant_requirements{${TENANTS}}`, '{{tenant_id}} compliant'))
        .withTarget(query(`partner_security_history_requirements{${TENANTS}}`, '{{tenant_id}} evaluated'))
        .min(0)
        .decimals(0)
        .lineInterpolation(LineInterpolation.StepAfter)
        .height(8)
        .span(8),
    )

    .withRow(new RowBuilder('Requirements'))
    .withPanel(requirementsTable())

    .withRow(new RowBuilder('Requirement details'))
    .withPanel(
      stat('Partner tenant admins', 'From the mfaEnforcedForAdmins requirement. Every admin must use MFA.')
        .withTarget(query(`partner_security_admins{${TENANTS}}`, '{{tenant_id}} admins'))
        .withTarget(query(`partner_security_admins_mfa_enabled{${TENANTS}}`, '{{tenant_id}} with MFA'))
        .withTarget(query(`partner_security_admins_required_not_using_mfa{${TENANTS}}`, '{{tenant_id}} required, not using MFA'))
        .colorScheme(neutral())
        .overrideByRegexp('/not using MFA$/', NOT_USING_MFA_IN_RED)
        .height(6)
        .span(7),
    )
    .withPanel(
      stat('Partner tenant users', 'From the mfaEnforcedForAdmins requirement.')
        .withTarget(query(`partner_security_users{${TENANTS}}`, '{{tenant_id}} users'))
        .withTarget(query(`partner_security_users_mfa_enabled{${TENANTS}}`, '{{tenant_id}} with MFA'))
        .withTarget(query(`partner_security_users_required_not_using_mfa{${TENANTS}}`, '{{tenant_id}} required, not using MFA'))
        .colorScheme(neutral())
        .overrideByRegexp('/not using MFA$/', NOT_USING_MFA_IN_RED)
        .height(6)
        .span(7),
    )
    .withPanel(
      stat('MFA policies', 'How the partner tenant enforces MFA: security defaults, a Conditional Access policy or legacy per-user MFA.')
        .withTarget(query(`partner_security_mfa_policy_enabled{${TENANTS}}`, '{{tenant_id}} · {{policy}}'))
        .mappings(yesNo('enabled', 'disabled', 'green', 'text'))
        .height(6)
        .span(10),
    )
    .withPanel(
      new BarGauge()
        .title('Customer requirements')
        .description(
          'mfaEnforcedForAdminsOfCustomers: customer tenants that enforce MFA for their admins; spendingBudgetSetForCustomerAzureSubscriptions: customers with an Azure spending budget.',
        )
        .datasource(datasource)
        .withTarget(
          query(
            `partner_security_customer_tenants_mfa_enforced{${TENANTS}} / partner_security_customer_tenants{${TENANTS}}`,
            '{{tenant_id}} · admin MFA enforced',
          ),
        )
        .withTarget(
          query(
            `partner_security_spending_budget_customers_with_budget{${TENANTS}} / partner_security_spending_budget_customers{${TENANTS}}`,
            '{{tenant_id}} · spending budget set',
          ),
        )
        .reduceOptions(lastValue())
        .displayMode(BarGaugeDisplayMode.Gradient)
        .orientation(VizOrientation.Horizontal)
        .unit('percentunit')
        .min(0)
        .max(1)
        .thresholds(steps('red', [0.5, 'orange'], [1, 'green']))
        .height(6)
        .span(12),
    )
    .withPanel(
      stat('Average security alert response time', `30-day average from the securityAlertsPromptlyResolved requirement; it must stay under 24 h.`)
        .withTarget(query(`partner_security_alert_response_time_average_seconds{${TENANTS}}`))
        .unit('s')
        .decimals(1)
        .thresholds(steps('green', [THRESHOLDS.alertResponseSeconds * 0.75, 'orange'], [THRESHOLDS.alertResponseSeconds, 'red']))
        .height(6)
        .span(4),
    )
    .withPanel(
      timeSeries('Alert response time against the 24 h requirement', 'The dashed line is the requirement: 24 hours.')
        .withTarget(query(`partner_security_alert_response_time_average_seconds{${TENANTS}}`))
        .unit('s')
        .min(0)
        .lineInterpolation(LineInterpolation.StepAfter)
        .thresholds(steps('transparent', [THRESHOLDS.alertResponseSeconds, 'red']))
        .thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed))
        .height(6)
        .span(8),
    )

    .withRow(new RowBuilder('Security alerts'))
    .withPanel(
      stat('Open security alerts', 'Open partner security alerts by severity (any status but resolved); test alerts are not counted.')
        .withTarget(query(`sum by (tenant_id, severity) (partner_security_alerts_open{${TENANTS}})`, '{{tenant_id}} · {{severity}}'))
        .colorScheme(neutral())
        .height(6)
        .span(6),
    )
    .withPanel(
      stat(
        'Oldest open alert',
        `Age of the oldest open non-test alert of each severity. PartnerSecurityAlertOpenTooLong fires at ${THRESHOLDS.openAlertAgeSeconds / 3600} h; over ${THRESHOLDS.alertResponseSeconds / 3600} h it counts against the requirement.`,
      )
        .withTarget(query(`time() - partner_security_alerts_oldest_open_detected_timestamp_seconds{${TENANTS}}`, '{{tenant_id}} · {{severity}}'))
        .unit('s')
        .decimals(1)
        .thresholds(steps('green', [THRESHOLDS.openAlertAgeSeconds, 'orange'], [THRESHOLDS.alertResponseSeconds, 'red']))
        .height(6)
        .span(6),
    )
    .withPanel(
      timeSeries(
        'Alert resolution time, 30 days',
        "The exporter's own 30-day average (resolved minus detected, from the alerts) beside Graph's averageResponseTimeInHours, which follows when Microsoft refreshes the score. The dashed line is the requirement: 24 hours.",
      )
        .withTarget(query(`partner_security_alerts_response_time_30d_average_seconds{${TENANTS}}`, '{{tenant_id}} · from the alerts'))
        .withTarget(query(`partner_security_alert_response_time_average_seconds{${TENANTS}}`, '{{tenant_id}} · Graph'))
        .unit('s')
        .min(0)
        .lineInterpolation(LineInterpolation.StepAfter)
        .thresholds(steps('transparent', [THRESHOLDS.alertResponseSeconds, 'red']))
        .thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed))
        .height(6)
        .span(12),
    )
    .withPanel(openAlertsTable())

    .withRow(new RowBuilder('Customer insights'))
    .withPanel(
      stat('Customers read', 'Customers read from the MFA customer insights (every page read, beyond the per-customer series cap).')
        .withTarget(query(`partner_security_customer_insights_customers{${TENANTS}}`))
        .withTarget(query(`partner_security_customer_insights_pages{${TENANTS}}`, '{{tenant_id}} · pages'))
        .withTarget(query(`partner_security_customer_insights_truncated{${TENANTS}}`, '{{tenant_id}} · truncated'))
        .colorScheme(neutral())
        .overrideByRegexp('/truncated$/', [
          { id: 'mappings', value: yesNo('truncated', 'complete', 'orange', 'green') },
          { id: 'color', value: { mode: FieldColorModeId.Thresholds } },
        ])
        .height(6)
        .span(6),
    )
    .withPanel(
      new BarGauge()
        .title('Customers with each MFA policy enabled')
        .description('Share of the customers read with the policy enabled.')
        .datasource(datasource)
        .withTarget(
          query(
            `partner_security_customer_insights_policy_enabled_customers{${TENANTS}} / ignoring (policy) group_left partner_security_customer_insights_customers{${TENANTS}}`,
            '{{tenant_id}} · {{policy}}',
          ),
        )
        .reduceOptions(lastValue())
        .displayMode(BarGaugeDisplayMode.Basic)
        .orientation(VizOrientation.Horizontal)
        .unit('percentunit')
        .min(0)
        .max(1)
        .colorScheme(new FieldColorBuilder().mode(FieldColorModeId.Fixed).fixedColor('blue'))
        .height(6)
        .span(9),
    )
    .withPanel(
      stat(
        'Customer users and MFA',
        'Sums over the per-customer series (at most --collector.customer-insights.max-customers customers); customers without any MFA policy enabled.',
      )
        .withTarget(query(`sum by (tenant_id) (partner_security_customer_users{${TENANTS}})`, '{{tenant_id}} · users'))
        .withTarget(query(`sum by (tenant_id) (partner_security_customer_admins_mfa_compliant{${TENANTS}})`, '{{tenant_id}} · admins with MFA'))
        .withTarget(query(`sum by (tenant_id) (partner_security_customer_non_admins_mfa_compliant{${TENANTS}})`, '{{tenant_id}} · non-admins with MFA'))
        .withTarget(
          query(
            `sum by (tenant_id) (1 - max by (tenant_id, customer_tenant_id) (partner_security_customer_mfa_policy_enabled{${TENANTS}}))`,
            '{{tenant_id}} · customers without an MFA policy',
          ),
        )
        .colorScheme(neutral())
        .height(6)
        .span(9),
    );
  return finish(builder.build());
}

/** Open alerts per customer, type and severity, with the age of the oldest (needs --collector.security-alerts.customers). */
function openAlertsTable(): Table {
  return new Table()
    .title('Open security alerts per customer')
    .description(
      'The oldest open non-test alert of each customer, type and severity, and how many are open. Needs --collector.security-alerts.customers (per-customer series, within --collector.customer-insights.max-customers).',
    )
    .datasource(datasource)
    .withTarget(query(`time() - partner_security_customer_alerts_oldest_open_detected_timestamp_seconds{${TENANTS}}`, '', { table: true }).refId('AGE'))
    .withTransformation({
      id: 'organize',
      options: {
        excludeByName: { Time: true, __name__: true, job: true, instance: true },
        indexByName: { tenant_id: 0, customer_tenant_id: 1, alert_type: 2, severity: 3, Value: 4 },
        renameByName: { tenant_id: 'Tenant', customer_tenant_id: 'Customer tenant', alert_type: 'Type', severity: 'Severity', Value: 'Age' },
      },
    })
    .overrideByName('Age', [
      { id: 'unit', value: 's' },
      { id: 'thresholds', value: steps('green', [THRESHOLDS.openAlertAgeSeconds, 'orange'], [THRESHOLDS.alertResponseSeconds, 'red']).build() },
      { id: 'custom.cellOptions', value: { type: TableCellDisplayMode.ColorBackground } },
    ])
    .height(8)
    .span(24);
}

/** The requirements mandatory for each partner, not compliant first, each with its Partner Center page. */
function mandatoryRequirementsTable(): Table {
  return new Table()
    .title('Mandatory requirements')
    .description(
      'The requirements the CSP authorization depends on, as the exporter decides them by the partner type (partner_security_requirement_mandatory): not compliant first. Action opens the requirement in Partner Center.',
    )
    .datasource(datasource)
    .withTarget(
      query(
        `(partner_security_requirement_compliant{${TENANTS}} and partner_security_requirement_mandatory{${TENANTS}} == 1) * ignoring (state, action_url, help_url) group_left (action_url) partner_security_requirement_info{${TENANTS}}`,
        '',
        { table: true },
      ).refId('MANDATORY'),
    )
    .withTransformation({
      id: 'organize',
      options: {
        excludeByName: { Time: true, __name__: true, job: true, instance: true, help_url: true },
        indexByName: { tenant_id: 0, requirement_type: 1, Value: 2, action_url: 3 },
        renameByName: { tenant_id: 'Tenant', requirement_type: 'Requirement', Value: 'Compliant', action_url: 'Action' },
      },
    })
    .withTransformation({ id: 'sortBy', options: { sort: [{ field: 'Compliant', desc: false }] } })
    .overrideByName('Compliant', [
      { id: 'mappings', value: yesNo('yes', 'no') },
      { id: 'custom.cellOptions', value: { type: TableCellDisplayMode.ColorBackground } },
    ])
    .overrideByName('Action', [
      { id: 'links', value: [{ title: 'Open in Partner Center', url: grafanaVariable('__value.raw'), targetBlank: true }] },
      { id: 'mappings', value: [{ type: MappingType.RegexToText, options: { pattern: '^https?://.*', result: { text: 'Partner Center', index: 0 } } }] },
    ])
    .height(6)
    .span(12);
}

function requirementsTable(): Table {
  const table = new Table()
    .title('Requirements')
    .description(
      'Every requirement Graph evaluates. Which active ones are mandatory depends on the partner type (the Mandatory requirements table above); "preview" ones do not count yet. Action opens the requirement in Partner Center.',
    )
    .datasource(datasource)
    .withTarget(query(`partner_security_requirement_info{${TENANTS}}`, '', { table: true }).refId('INFO'))
    .withTarget(query(`partner_security_requirement_compliant{${TENANTS}}`, '', { table: true }).refId('COMPLIANT'))
    .withTarget(query(`partner_security_requirement_score{${TENANTS}}`, '', { table: true }).refId('SCORE'))
    .withTarget(query(`partner_security_requirement_max_score{${TENANTS}}`, '', { table: true }).refId('MAX'))
    // One row per requirement: the instant queries share their labels, merge joins them on those.
    .withTransformation({ id: 'merge', options: {} })
    .withTransformation({
      id: 'organize',
      options: {
        excludeByName: { Time: true, 'Value #INFO': true, __name__: true, job: true, instance: true },
        indexByName: {
          tenant_id: 0,
          requirement_type: 1,
          state: 2,
          'Value #COMPLIANT': 3,
          'Value #SCORE': 4,
          'Value #MAX': 5,
          action_url: 6,
          help_url: 7,
        },
        renameByName: {
          tenant_id: 'Tenant',
          requirement_type: 'Requirement',
          state: 'State',
          'Value #COMPLIANT': 'Compliant',
          'Value #SCORE': 'Score',
          'Value #MAX': 'Max score',
          action_url: 'Action',
          help_url: 'Help',
        },
      },
    })
    .overrideByName('Compliant', [
      { id: 'mappings', value: yesNo('yes', 'no') },
      { id: 'custom.cellOptions', value: { type: TableCellDisplayMode.ColorBackground } },
    ])
    .overrideByName('State', [
      {
        id: 'mappings',
        value: [
          {
            type: MappingType.ValueToText,
            options: { active: { text: 'active', index: 0 }, preview: { text: 'preview', index: 1 } },
          },
        ],
      },
    ])
    .overrideByName('Action', [
      { id: 'links', value: [{ title: 'Open in Partner Center', url: grafanaVariable('__value.raw'), targetBlank: true }] },
      { id: 'mappings', value: [{ type: MappingType.RegexToText, options: { pattern: '^https?://.*', result: { text: 'Partner Center', index: 0 } } }] },
    ])
    .overrideByName('Help', [
      { id: 'links', value: [{ title: 'Documentation', url: grafanaVariable('__value.raw'), targetBlank: true }] },
      { id: 'mappings', value: [{ type: MappingType.RegexToText, options: { pattern: '^https?://.*', result: { text: 'Docs', index: 0 } } }] },
    ])
    .height(9)
    .span(24);
  return table;
}
