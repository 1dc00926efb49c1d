"""The shared domain, parsed once: Kubernetes renders (kube.py), Prometheus and Alertmanager
configuration (prometheus.py), ..."""
