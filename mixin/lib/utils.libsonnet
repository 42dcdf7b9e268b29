// Helpers of the alert rules and dashboards; no state, nothing but functions.
{
  // A text block (|||) as one line: annotations and expressions read as they would folded in YAML.
  oneLine(text):: std.strReplace(std.stripChars(text, '\n '), '\n', ' '),

  // A number as PromQL and people write it: 0.7, 48 (not 0.69999999999999996).
  number(n):: '%g' % n,

  // 24 -> '24 hours', 1 -> '1 hour'.
  hours(n):: if n == 1 then '1 hour' else '%g hours' % n,

  // A Prometheus duration as words: '20m' -> '20 minutes', '1h' -> '1 hour'; a compound one
  // ('1h30m') stays as written.
  duration(d)::
    local units = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week' };
    local count = std.substr(d, 0, std.length(d) - 1);
    local unit = std.substr(d, std.length(d) - 1, 1);
    local digits = std.length(count) > 0 && std.length([c for c in std.stringChars(count) if !std.member('0123456789', c)]) == 0;
    if digits && std.objectHas(units, unit)
    then count + ' ' + units[unit] + (if std.parseInt(count) == 1 then '' else 's')
    else d,

  // A rule with its runbook_url: the pattern with the alert name in lower case (the only place one is made).
  withRunbookURL(pattern, rule):: rule { annotations+: { runbook_url: pattern % std.asciiLower(rule.alert) } },

  // Applies f to every string inside a JSON value.
  mapStrings(f, value)::
    if std.isString(value) then f(value)
    else if std.isArray(value) then [$.mapStrings(f, v) for v in value]
    else if std.isObject(value) then { [k]: $.mapStrings(f, value[k]) for k in std.objectFields(value) }
    else value,
}
