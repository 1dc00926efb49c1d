"""Policy checks over the chart, its renders and the ArgoCD manifests.

Each module is a check run as `python -m pipeline.policies.<module> ARGS`: plain
functions over files or stdin that print one line per problem (file, resource
kind/name, field) and exit non-zero when there is any.
"""
