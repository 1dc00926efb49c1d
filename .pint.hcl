# pint (offline): rule conventions on top of promtool's syntax checks.
# Run: pint --offline --no-color lint --min-severity=info --fail-on=info infra/monitoring/alertmanager/rules
parser {
  include = ["infra/monitoring/alertmanager/rules/[^/]+[.]yml"]
  relaxed = []
}

rule {
  match {
    kind = "alerting"
  }

  label "severity" {
    severity = "bug"
    value    = "(critical|warning|info|none)"
    required = true
  }

  annotation "summary" {
    severity = "bug"
    required = true
  }

  annotation "description" {
    severity = "bug"
    required = true
  }

  annotation "runbook_url" {
    severity = "bug"
    value    = "https://runbooks[.]dpp-platform[.]example/monitoring/.+"
    required = true
  }
}
