// Package agent serves a node's collectors over HTTP the way node_exporter
// does: /metrics (gzip and OpenMetrics negotiated by promhttp, optional
// collect[]/exclude[] parameters), /healthz, /readyz and a small landing page.
//
// Run is the agent role: Options (options.go: NewOptions holds the defaults,
// Validate names a bad option by its field) choose and configure the
// collectors, which Run builds and serves, with the container collector's
// kubelet-shaped endpoints over HTTPS (ServeKubelet) when asked. New serves
// ready-built collectors (Config). It parses no flags: cmd/panoptes binds
// them. It must not import server, Kubernetes or UI packages: the agent is
// deployed on every node and stays lean.
package agent
