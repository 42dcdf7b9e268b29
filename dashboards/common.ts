/** Building blocks both dashboards share: the template variables, the query shape and the finishing pass. */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  BigValueColorMode,
  BigValueGraphMode,
  BigValueTextMode,
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  VizLegendOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import {
  AnnotationQueryBuilder,
  type Dashboard,
  DashboardLinkBuilder,
  DashboardLinkType,
  DatasourceVariableBuilder,
  FieldColorBuilder,
  FieldColorModeId,
  MappingType,
  type Panel,
  QueryVariableBuilder,
  type RowPanel,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  type ValueMapping,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeSeriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/** UID of the Prometheus data source grafana/provisioning/datasources/ creates; the datasource variable's default. */
export const DATASOURCE_UID = 'partner-security-prometheus';
/** Name of that data source (what Grafana shows in the datasource picker). */
export const DATASOURCE_NAME = 'Prometheus';
/**
 * Where the monitoring mixin puts its label selector (`_config.partnerSecuritySelector`, the scrape
 * job by default): every query names it, and mixin/dashboards/dashboards.libsonnet replaces it. The
 * JSON these sources render (mixin/dashboards/) is the mixin's template; grafana/dashboards/ is what
 * the mixin makes of it (uid prefix, tags and refresh from its _config too).
 */
export const SELECTOR = '%(partnerSecuritySelector)s';

/**
 * The numbers the panels colour by. They mirror deploy/prometheus/alerts.yml (a test keeps them equal),
 * so a red panel and a firing alert mean the same thing.
 */
export const THRESHOLDS = {
  /** PartnerSecurityScoreLow: score below 70% of the maximum. */
  scoreRatio: 0.7,
  /** PartnerSecurityScoreDataStale: Microsoft has not refreshed the data for 48 hours. */
  dataAgeSeconds: 48 * 3600,
  /** The requirement itself: security alerts answered within 24 hours on average. */
  alertResponseSeconds: 24 * 3600,
  /** PartnerSecurityExporterPollFailing: two default poll intervals (2 x 10m). */
  pollFailingSeconds: 2 * 600,
  /** PartnerSecurityAlertOpenTooLong: an open alert 20 hours old leaves 4 before it counts over 24. */
  openAlertAgeSeconds: 20 * 3600,
  /** PartnerSecurityAlertResponseApproachingLimit: the exporter's own 30-day average over 20 hours. */
  alertResponseApproachingSeconds: 20 * 3600,
} as const;

/** A Grafana variable reference, `${name}` (Grafana's syntax, spelled so it is not mistaken for a JavaScript template). */
export const grafanaVariable = (name: string) => `\${${name}}`;

/** Every panel and variable query goes through the datasource variable, never a fixed data source. */
export const datasource = { type: 'prometheus', uid: grafanaVariable('datasource') };

/** The `datasource` variable: any Prometheus data source, defaulting to the provisioned one. */
export function datasourceVariable(): DatasourceVariableBuilder {
  return new DatasourceVariableBuilder('datasource')
    .label('Data source')
    .type('prometheus')
    .current({ selected: true, text: DATASOURCE_NAME, value: DATASOURCE_UID });
}

/** A multi-select query variable over one label of one metric, "All" by default. */
export function labelVariable(name: string, label: string, metric: string): QueryVariableBuilder {
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(datasource)
    .query({ qryType: 1, query: `label_values(${metric}{${SELECTOR}}, ${name})`, refId: 'PrometheusVariableQueryEditor-VariableQuery' })
    .definition(`label_values(${metric}{${SELECTOR}}, ${name})`)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .current({ selected: true, text: ['All'], value: ['$__all'] });
}

/** The `tenant_id` variable: every partner tenant an exporter reports on. */
export function tenantVariable(): QueryVariableBuilder {
  return labelVariable('tenant_id', 'Partner tenant', 'partner_security_up');
}

/** Label matchers for the selected tenants, of the exporter's job. */
export const TENANTS = `tenant_id=~"$tenant_id", ${SELECTOR}`;

/** A Prometheus query through the datasource variable: a range query, or an instant one in table format for tables. */
export function query(expr: string, legend = '{{tenant_id}}', options: { table?: boolean } = {}): DataqueryBuilder {
  const builder = new DataqueryBuilder().datasource(datasource).expr(expr).legendFormat(legend);
  return options.table ? builder.format(PromQueryFormat.Table).instant() : builder.range();
}

/** Stat, gauge and bar gauge panels show the latest value, never an average over the time range. */
export const lastValue = () => new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false);
/** Counts that are neither good nor bad are shown in the text colour. */
export const neutral = () => new FieldColorBuilder().mode(FieldColorModeId.Fixed).fixedColor('text');

/** A stat panel showing the latest value of each series, with its name, coloured by thresholds or mappings. */
export function stat(title: string, description: string): StatBuilder {
  return new StatBuilder()
    .title(title)
    .description(description)
    .datasource(datasource)
    .reduceOptions(lastValue())
    .graphMode(BigValueGraphMode.None)
    .colorMode(BigValueColorMode.Value)
    .textMode(BigValueTextMode.ValueAndName);
}

/** A time series panel with a legend below it. */
export function timeSeries(title: string, description: string): TimeSeriesBuilder {
  return new TimeSeriesBuilder()
    .title(title)
    .description(description)
    .datasource(datasource)
    .legend(new VizLegendOptionsBuilder().showLegend(true).displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom))
    .lineWidth(2)
    .fillOpacity(10);
}

/** Threshold steps from a base colour and [value, colour] pairs. */
export function steps(base: string, ...rest: [number, string][]): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([{ value: null, color: base }, ...rest.map(([value, color]) => ({ value, color }))]);
}

/** Value mapping 1 / 0 to words and colours. */
export function yesNo(yes: string, no: string, yesColor = 'green', noColor = 'red'): ValueMapping[] {
  return [
    {
      type: MappingType.ValueToText,
      options: { '1': { text: yes, color: yesColor, index: 0 }, '0': { text: no, color: noColor, index: 1 } },
    },
  ];
}

/** Grafana's built-in annotation source (annotations and alert state changes of the dashboard). */
export function builtInAnnotation(): AnnotationQueryBuilder {
  return new AnnotationQueryBuilder()
    .name('Annotations & Alerts')
    .datasource({ type: 'grafana', uid: '-- Grafana --' })
    .builtIn(1)
    .enable(true)
    .hide(true)
    .iconColor('rgba(0, 211, 255, 1)')
    .type('dashboard');
}

/** Links to the other partner security dashboards (the mixin gives it their tags), keeping the time range and the selected tenants. */
export function dashboardsLink(): DashboardLinkBuilder {
  return new DashboardLinkBuilder('Partner security')
    .type(DashboardLinkType.Dashboards)
    .tags([])
    .asDropdown(true)
    .includeVars(true)
    .keepTime(true)
    .targetBlank(false);
}

type AnyPanel = Panel | RowPanel;

/**
 * Numbers every panel (rows included) 1, 2, ... in layout order, so links to a panel stay valid,
 * and names each unnamed query A, B, ... by its position, as Grafana would on first load.
 */
export function finish(dashboard: Dashboard): Dashboard {
  let id = 0;
  const visit = (panel: AnyPanel) => {
    panel.id = ++id;
    if (panel.type === 'row') {
      for (const inner of (panel as RowPanel).panels ?? []) visit(inner);
      return;
    }
    ((panel as Panel).targets ?? []).forEach((target: cog.Dataquery & { refId?: string }, index: number) => {
      target.refId ??= String.fromCharCode(65 + index);
    });
  };
  for (const panel of dashboard.panels ?? []) visit(panel);
  return dashboard;
}
