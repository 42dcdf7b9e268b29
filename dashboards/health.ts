/** The "Partner security exporter health" dashboard: is the exporter polling Graph, how fast, and what goes wrong. */
import {
  BarAlignment,
  BigValueTextMode,
  GraphDrawStyle,
  LineInterpolation,
  StackingConfigBuilder,
  StackingMode,
  VisibilityMode,
} from '@grafana/grafana-foundation-sdk/common';
import { type Dashboard, DashboardBuilder, DashboardCursorSync, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as StateTimeline } from '@grafana/grafana-foundation-sdk/statetimeline';
import {
  builtInAnnotation,
  dashboardsLink,
  datasource,
  datasourceVariable,
  finish,
  labelVariable,
  neutral,
  query,
  SELECTOR,
  stat,
  steps,
  TENANTS,
  THRESHOLDS,
  tenantVariable,
  timeSeries,
  yesNo,
} from './common.js';

/** Name of the health dashboard: its uid after the mixin's dashboardUIDPrefix. */
export const HEALTH_NAME = 'exporter-health';

/** Series of the exporter processes themselves (no tenant_id): the selected scrape jobs. */
const JOBS = `job=~"$job", ${SELECTOR}`;
/** The exporters' own series, to keep only exporter processes among the job's targets. */
const EXPORTERS = `partner_security_build_info{${SELECTOR}}`;

/** Builds the exporter health dashboard. */
export function healthDashboard(): Dashboard {
  const builder = new DashboardBuilder('Partner security exporter health')
    .uid(HEALTH_NAME)
    .description('Whether partner-security-score-exporter reaches Microsoft Graph: poll results, durations, Graph answers and failures.')
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .time({ from: 'now-24h', to: 'now' })
    .timezone('browser')
    .withVariable(datasourceVariable())
    .withVariable(labelVariable('job', 'Job', 'partner_security_build_info'))
    .withVariable(tenantVariable())
    .annotation(builtInAnnotation())
    .link(dashboardsLink())

    .withRow(new RowBuilder('Polling'))
    .withPanel(
      stat('Last poll', 'partner_security_up: whether the most recent poll of Graph succeeded.')
        .withTarget(query(`partner_security_up{${TENANTS}}`))
        .mappings(yesNo('OK', 'failed'))
        .height(5)
        .span(4),
    )
    .withPanel(
      stat(
        'Time since the last successful poll',
        `The PartnerSecurityExporterPollFailing alert fires after ${THRESHOLDS.pollFailingSeconds / 60} minutes of failed polls (two default poll intervals).`,
      )
        .withTarget(query(`time() - partner_security_last_success_timestamp_seconds{${TENANTS}}`))
        .unit('s')
        .decimals(0)
        .thresholds(steps('green', [THRESHOLDS.pollFailingSeconds, 'red']))
        .height(5)
        .span(5),
    )
    .withPanel(
      stat('Next poll in', 'When the next poll is due: the poll interval, or sooner/later after a failure (backoff, Retry-After).')
        .withTarget(query(`partner_security_next_poll_timestamp_seconds{${TENANTS}} - time()`))
        .unit('s')
        .decimals(0)
        .colorScheme(neutral())
        .height(5)
        .span(5),
    )
    .withPanel(
      stat('Failed polls (24 h)', 'Polls that failed in the last 24 hours, of all reasons.')
        .withTarget(query(`sum by (tenant_id) (increase(partner_security_poll_failures_total{${TENANTS}}[24h]))`))
        .decimals(0)
        .thresholds(steps('green', [1, 'orange']))
        .height(5)
        .span(5),
    )
    .withPanel(
      stat('Relations', 'Whether requirements, history and customer insights were read in the last successful poll (absent when turned off).')
        .withTarget(query(`partner_security_relation_up{${TENANTS}}`, '{{tenant_id}} · {{relation}}'))
        .mappings(yesNo('read', 'unavailable', 'green', 'orange'))
        .height(5)
        .span(5),
    )
    .withPanel(
      new StateTimeline()
        .title('Poll results')
        .description('Each scrape of partner_security_up: a flapping exporter shows as alternating colours.')
        .datasource(datasource)
        .withTarget(query(`partner_security_up{${TENANTS}}`))
        .mappings(yesNo('OK', 'failed'))
        .showValue(VisibilityMode.Never)
        .mergeValues(true)
        .height(5)
        .span(24),
    )

    .withRow(new RowBuilder('Microsoft Graph'))
    .withPanel(
      timeSeries('Poll duration', 'How long the most recent poll took (token, request, paging).')
        .withTarget(query(`partner_security_poll_duration_seconds{${TENANTS}}`))
        .unit('s')
        .min(0)
        .lineInterpolation(LineInterpolation.StepAfter)
        .height(8)
        .span(12),
    )
    .withPanel(
      timeSeries('Graph requests by status code (per hour)', 'Requests sent to Graph over the last hour by HTTP status ("none": no answer arrived).')
        .withTarget(query(`sum by (tenant_id, code) (increase(partner_security_graph_requests_total{${TENANTS}}[1h]))`, '{{tenant_id}} · {{code}}'))
        .min(0)
        .height(8)
        .span(12),
    )
    .withPanel(
      timeSeries(
        'Failed polls by reason (per hour)',
        'Failed polls over the last hour by reason; see the exporter log line for the Graph error code and request id.',
      )
        .withTarget(query(`sum by (tenant_id, reason) (increase(partner_security_poll_failures_total{${TENANTS}}[1h]))`, '{{tenant_id}} · {{reason}}'))
        .min(0)
        .drawStyle(GraphDrawStyle.Bars)
        .barAlignment(BarAlignment.Center)
        .stacking(new StackingConfigBuilder().mode(StackingMode.Normal))
        .height(8)
        .span(12),
    )
    .withPanel(
      timeSeries('Polls (per hour)', 'Polls completed over the last hour, successful or not: one per poll interval, more while backing off after failures.')
        .withTarget(query(`sum by (tenant_id) (increase(partner_security_polls_total{${TENANTS}}[1h]))`))
        .min(0)
        .height(8)
        .span(12),
    )

    .withRow(new RowBuilder('Exporter process'))
    .withPanel(
      stat('Scrape', 'up: whether Prometheus could scrape the exporter.')
        .withTarget(query(`up{${JOBS}}`, '{{instance}}'))
        .mappings(yesNo('up', 'down'))
        .height(6)
        .span(4),
    )
    .withPanel(
      stat('Version', 'partner_security_build_info.')
        .withTarget(query(`partner_security_build_info{${JOBS}}`, '{{version}} (Node.js {{nodejs_version}})'))
        .textMode(BigValueTextMode.Name)
        .colorScheme(neutral())
        .height(6)
        .span(4),
    )
    .withPanel(
      timeSeries('Resident memory', 'process_resident_memory_bytes of each exporter.')
        .withTarget(query(`process_resident_memory_bytes{${JOBS}} and on (job, instance) ${EXPORTERS}`, '{{instance}}'))
        .unit('bytes')
        .min(0)
        .height(6)
        .span(8),
    )
    .withPanel(
      timeSeries('CPU', 'CPU seconds per second used by each exporter.')
        .withTarget(query(`rate(process_cpu_seconds_total{${JOBS}}[$__rate_interval]) and on (job, instance) ${EXPORTERS}`, '{{instance}}'))
        .unit('percentunit')
        .min(0)
        .height(6)
        .span(8),
    );
  return finish(builder.build());
}
