"""The shared domain, parsed once: Kubernetes renders (kube.py), the compose file as Compose
resolves it (compose.py), Prometheus and Alertmanager configuration (prometheus.py), ..."""
