// Package e2e starts the real panoptes binary and the real peers it replaces
// (Debian's prometheus-node-exporter, prometheus and promtool) on loopback
// ports and compares what they serve. A missing peer skips its test with a
// one-line reason, or fails it when CI=true.
package e2e
