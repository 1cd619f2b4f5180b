//go:build tools

// Package tools pins chart-testing (ct), whose `ct lint` checks the chart as the helm/charts projects do.
package tools

import _ "github.com/helm/chart-testing/v3/ct"
