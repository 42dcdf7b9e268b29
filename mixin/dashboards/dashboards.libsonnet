// The Grafana dashboards. The JSON beside this file is generated from the project's dashboards/*.ts
// (npm run dashboards); here each gets the selector, uid prefix, tags and refresh of _config.
local utils = import '../lib/utils.libsonnet';

// Where the templates put the label selector (SELECTOR in dashboards/common.ts).
local selectorPlaceholder = '%(partnerSecuritySelector)s';

// File name -> template. A template's uid is the dashboard's name (overview, exporter-health).
local templates = {
  'partner-security-overview.json': import 'partner-security-overview.json',
  'partner-security-exporter-health.json': import 'partner-security-exporter-health.json',
};

{
  grafanaDashboards+:: {
    local c = $._config,
    local withSelector(s) = std.strReplace(s, selectorPlaceholder, c.partnerSecuritySelector),

    [file]:
      local template = templates[file];
      utils.mapStrings(withSelector, template) {
        uid: c.dashboardUIDPrefix + template.uid,
        tags: c.dashboardTags,
        refresh: c.dashboardRefresh[template.uid],
        // The link to the other dashboards finds them by their tags.
        links: [
          if link.type == 'dashboards' then link { tags: c.dashboardTags } else link
          for link in template.links
        ],
      }
    for file in std.objectFields(templates)
  },
}
