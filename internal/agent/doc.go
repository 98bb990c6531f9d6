// Package agent serves a node's collectors over HTTP the way node_exporter
// does: /metrics (gzip and OpenMetrics negotiated by promhttp, optional
// collect[]/exclude[] parameters), /healthz, /readyz and a small landing page.
//
// It takes ready-built collectors in its Config and parses no flags. It must
// not import server, Kubernetes or UI packages: the agent is deployed on every
// node and stays lean.
package agent
