"""The shared domain, parsed once: Kubernetes renders (kube.py), ..."""
