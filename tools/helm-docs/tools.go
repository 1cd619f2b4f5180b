//go:build tools

// Package tools pins helm-docs, which writes charts/vstream/README.md from values.yaml comments.
package tools

import _ "github.com/norwoodj/helm-docs/cmd/helm-docs"
