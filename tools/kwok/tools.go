//go:build tools

// Package tools pins kwok, which plays kubelet for fake nodes so pods become Running/Ready.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
