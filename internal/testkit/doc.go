// Package testkit is the one home of test support: the policy for a missing
// prerequisite (skip on a laptop, fail under CI=true), the peers the tests
// compare with, the panoptes binaries built once per test binary, processes
// stopped by pid when a test ends, free loopback ports, and the CPU burner.
// Its subpackages hold the heavier parts: k8s (a real control plane), cgroup
// (real cgroup v1 cgroups), kubelet (a fake kubelet) and browser (chromium
// options).
//
// Only _test.go files, test/ and bench/ import it (depguard's
// testkit-only-in-tests rule): nothing here may reach a shipped binary. It
// imports the standard library and golang.org/x/mod/semver only, never a
// package of Panoptes, so every test can use it.
package testkit
