// Package ui holds the browser tests of the web UI: Debian's chromium,
// headless, driven by chromedp against the real all-in-one binary with real
// collected data (host collectors, a container cgroup the test makes). It has
// no code outside its tests.
package ui
