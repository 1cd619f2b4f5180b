//go:build tools

// Package tools pins runc, the OCI runtime under containerd (Debian's 1.1.x fails with containerd 2.4).
// Built with cgo and the seccomp tag against Debian's libseccomp-dev, so RuntimeDefault profiles apply.
package tools

import _ "github.com/opencontainers/runc"
