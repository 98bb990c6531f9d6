// Package host holds the host collectors: one file per collector, each with
// node_exporter's metric names, labels, types, units and HELP, reading /proc
// and /sys under Config's roots through prometheus/procfs where it covers the
// file and through small parsers of our own (fuzzed) where it does not.
//
// A collector registers itself in init() with its name, whether it is on by
// default, and a factory; its fixture tree lives in testdata/<name>/ with the
// golden output want.prom. There is no central list to edit.
//
// This package must not import Kubernetes, server or container packages: the
// agent links it and stays lean.
package host
