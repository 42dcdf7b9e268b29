// The alert rules as a Prometheus rule file: jsonnet -S alerts.jsonnet > alerts.yml
std.manifestYamlDoc((import 'mixin.libsonnet').prometheusAlerts)
