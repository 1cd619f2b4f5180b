//go:build tools

// Package tools pins Prometheus: promtool unit-tests the chart's PrometheusRule (promtool test rules), and the
// server scrapes a stand-in MediaMTX through the PodMonitor's relabelling in the monitoring test.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
