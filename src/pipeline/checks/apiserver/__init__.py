"""The `apiserver` checks: the render and the ArgoCD manifests dry-run on a real kube-apiserver
(the service itself is pipeline.kubeapi.server)."""
