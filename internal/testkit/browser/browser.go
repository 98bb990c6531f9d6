// Package browser is the one place that says how the browser tests
// (test/ui) and the UI benchmark (bench/ui) start Debian's chromium: headless,
// without a sandbox (they run as root), a GPU, QUIC, first-run pages or any
// background traffic to other hosts, in a user data directory of their own.
// Only tests and benchmarks import it; the panoptes binary does not.
package browser

import "github.com/chromedp/chromedp"

// Options are the chromedp allocator options for chromium at path with a
// fresh profile in userDataDir and a window of width x height.
func Options(path, userDataDir string, width, height int) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(width, height),
	}
}
