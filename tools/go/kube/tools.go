//go:build tools

// Package tools pins the Kubernetes binaries scripts/bootstrap builds from this
// module (src/pipeline/toolchain.toml, native = "go-wrapper"): the API server,
// kubectl and the etcd server of lint's server-side dry-run.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
