// Package builtinrules holds the rules that come with Panoptes: one
// Prometheus rule file per area, embedded in the binary so that the
// all-in-one and deploy/server alert out of the box with no file to ship.
//
//   - host.yaml: node_exporter-named metrics (the agent's host collectors):
//     filesystems full or filling up, inodes, memory, OOM kills, clock,
//     network errors.
//   - containers.yaml: cAdvisor-named metrics (the agent's container
//     collector): CPU throttling, OOM kills, memory near the limit.
//   - kubernetes.yaml: kube-state-metrics-named metrics (panoptes state) and
//     the kubelet's volume statistics: crash loops, restarts, pods not
//     ready, replicas short, node conditions, persistent volumes filling.
//   - panoptes.yaml: the monitoring's own health: targets down, config
//     reloads, WAL corruption, compactions, rule failures, notifications,
//     remote-write lag and failures.
//
// The files are Prometheus's rule-file format exactly (promtool check rules
// and promtool test rules accept them; tests/ holds their promtool tests),
// and their selectors carry no job filter, so that they work both under
// the all-in-one's job names (job="node", job="panoptes") and under
// kube-prometheus' (job="node-exporter", job="kubelet",
// job="kube-state-metrics").
//
// Overriding: every group name starts with "panoptes-" and is unique across
// the files. A group of the same name in a user's rule file replaces the
// built-in group as a whole (the user's rules run, the built-in ones of that
// group do not); a group of that name with no rules turns it off. Alert names
// start with "Panoptes" so that they are told apart from kube-prometheus'
// alerts when both are loaded.
//
// The README's list of these rules is generated from the files by
// `go run ./hack/rulesdoc`; a test fails when it is stale.
//
// This package holds data only: it imports nothing but embed, so that any
// package may load it.
package builtinrules

import "embed"

// Files holds the built-in rule files, *.yaml at the root of the FS (no
// directories), in Prometheus's rule-file format.
//
//go:embed *.yaml
var Files embed.FS
