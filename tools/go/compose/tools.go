//go:build tools

// Package tools pins the Docker Compose v2 CLI (github.com/docker/compose/v2/cmd) as a
// dependency of this wrapper module, so go.mod/go.sum fix every module it is built from.
package tools

import _ "github.com/docker/compose/v2/cmd"
