// The partner-security-score-exporter monitoring mixin: prometheusAlerts and grafanaDashboards,
// configured by _config (config.libsonnet).
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
