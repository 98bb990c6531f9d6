// Package server is Panoptes' time-series server: it scrapes targets,
// stores samples in a local TSDB with a write-ahead log, answers PromQL over
// the Prometheus HTTP API v1, receives remote_write and forwards to
// remote_write endpoints.
//
// It is assembled from prometheus/prometheus's own packages (config,
// discovery, scrape, tsdb, promql, storage/remote, web/api/v1) rather than a
// rewrite of them, so that a prometheus.yml, the API's JSON and PromQL's
// results are Prometheus's exactly. What this package adds is the wiring
// behind a small surface (Options, New, Server.Run), config reload that keeps
// the running config when a new one is bad, federation, and in-process
// targets: collectors that are appended straight into the storage, without
// an HTTP hop, for the all-in-one default (subpackage allinone); and, for
// the web UI only, a compact binary encoding of query_range answers that a
// client gets by asking for it in its Accept header (matrixcodec.go).
//
// Options (options.go) hold the server's options with their defaults
// (NewOptions, Prometheus's) and Validate, which names a bad option by its
// field; Run is the server role: GOGC, the web UI at /, New and Server.Run.
// It parses no flags (cmd/panoptes binds them) and does not import the
// agent's collectors.
package server
