"""Checks of the chart group: policies over each environment's render (one rule a module),
hardening, NetworkPolicy reachability, resource budgets, the EDC and application contracts,
the chart's copies of the monitoring files and the values documentation."""
