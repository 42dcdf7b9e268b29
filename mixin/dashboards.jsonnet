// One JSON file per dashboard: jsonnet -m dashboards_out dashboards.jsonnet
local dashboards = (import 'mixin.libsonnet').grafanaDashboards;
{ [name]: dashboards[name] for name in std.objectFields(dashboards) }
