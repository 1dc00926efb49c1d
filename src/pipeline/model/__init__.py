"""The shared domain, parsed once: Prometheus and Alertmanager configuration (prometheus.py), ..."""
