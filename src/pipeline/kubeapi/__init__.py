"""A real Kubernetes API server for lint: how it is started, and the checks that use it.

- `server`  its credentials and the argv of etcd and kube-apiserver, the same in both
            executors (natively on loopback ports, in Dagger as two services);
- `dryrun`  the `apiserver` checks: install the CRDs, create the namespace and the
            ServiceAccounts, then dry-run every rendered resource and pod on the server.

Stdlib, PyYAML and the pinned `openssl`, `helm` and `kubectl` binaries only: this code
also runs in the python image of the Dagger executor.
"""
