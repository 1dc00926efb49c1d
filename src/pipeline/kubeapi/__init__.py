"""A real Kubernetes API server for lint: how it is started (`server`: its credentials and
the argv of etcd and kube-apiserver, the same in both executors: natively on loopback ports,
in Dagger as two services). The checks that use it are pipeline.checks.apiserver.

Stdlib, PyYAML and the pinned `openssl` binary only: this code also runs in the python
image of the Dagger executor.
"""
