"""Checks of the argocd group: the Applications and ApplicationSets of infra/argocd."""
