//go:build tools

// Package tools pins etcd, paired with Kubernetes 1.36 upstream (envtest and kubeadm use 3.6.8).
package tools

import _ "go.etcd.io/etcd/server/v3"
