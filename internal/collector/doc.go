// Package collector holds what every Panoptes collector family shares: the
// Collector interface, the Runner that executes a set of named collectors on
// each scrape (concurrently, with a per-collector timeout, panic recovery and
// de-duplicated error logs) and reports node_exporter's
// node_scrape_collector_duration_seconds and node_scrape_collector_success,
// and small helpers for building constant metrics cheaply.
//
// It must not import any concrete collector package (host, container): those
// import it.
package collector
